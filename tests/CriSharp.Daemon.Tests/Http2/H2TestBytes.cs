using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using CriSharp.Conformance.RawHttp2;
using CriSharp.Daemon.Http2;

namespace CriSharp.Daemon.Tests.Http2;

/// <summary>Builds client byte streams and takes rewritten output apart for the HTTP/2 tests.</summary>
internal static class H2TestBytes
{
    public const byte Data = 0x0, Headers = 0x1, Priority = 0x2, RstStream = 0x3, Settings = 0x4, Ping = 0x6, GoAway = 0x7, WindowUpdate = 0x8, Continuation = 0x9;
    public const byte EndStream = 0x1, EndHeaders = 0x4, Padded = 0x8, PriorityFlag = 0x20;

    public static readonly byte[] Preface = Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

    public const string SocketAuthority = "/run/crisharp/crisharp.sock";

    public static (string, string)[] Request(string authority, string path = "/runtime.v1.RuntimeService/Version") =>
    [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ];

    public static byte[] Hex(string hex) => Convert.FromHexString(string.Concat(hex.Where(c => !char.IsWhiteSpace(c))));

    public static byte[] Frame(byte type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(5), (uint)streamId);
        payload.CopyTo(frame.AsSpan(9));
        return frame;
    }

    public static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];

    /// <summary>A header block as HEADERS (+ CONTINUATION) frames, optionally split, padded, with priority.</summary>
    public static byte[] HeaderFrames(int streamId, byte[] block, int fragmentSize = 16384, byte padLength = 0, byte[]? priority = null, bool endStream = false)
    {
        var parts = new List<byte[]>();
        var first = Math.Min(fragmentSize, block.Length);
        byte flags = (byte)((first == block.Length ? EndHeaders : 0) | (endStream ? EndStream : 0));
        var payload = new List<byte>();
        if (padLength > 0)
        {
            flags |= Padded;
            payload.Add(padLength);
        }

        if (priority is not null)
        {
            flags |= PriorityFlag;
            payload.AddRange(priority);
        }

        payload.AddRange(block.AsSpan(0, first).ToArray());
        payload.AddRange(new byte[padLength]);
        parts.Add(Frame(Headers, flags, streamId, payload.ToArray()));
        for (var offset = first; offset < block.Length; offset += fragmentSize)
        {
            var chunk = Math.Min(fragmentSize, block.Length - offset);
            parts.Add(Frame(Continuation, offset + chunk == block.Length ? EndHeaders : (byte)0, streamId, block.AsSpan(offset, chunk)));
        }

        return Concat([.. parts]);
    }

    public static byte[] Rewrite(byte[] input, int chunkSize = int.MaxValue, Http2RewriterLimits? limits = null) =>
        Rewrite(input, out _, chunkSize, limits);

    public static byte[] Rewrite(byte[] input, out Http2FrameRewriter rewriter, int chunkSize = int.MaxValue, Http2RewriterLimits? limits = null)
    {
        rewriter = new Http2FrameRewriter(limits ?? new Http2RewriterLimits());
        var output = new ArrayBufferWriter<byte>();
        for (var offset = 0; offset < input.Length; offset += chunkSize)
        {
            rewriter.Process(input.AsSpan(offset, Math.Min(chunkSize, input.Length - offset)), output);
        }

        return output.WrittenSpan.ToArray();
    }

    public sealed record RawFrame(byte Type, byte Flags, int StreamId, byte[] Payload, byte[] Bytes);

    /// <summary>Splits a stream (after the preface) into frames; asserts the preface and a clean end.</summary>
    public static List<RawFrame> ParseFrames(byte[] bytes)
    {
        Assert.True(bytes.AsSpan().StartsWith(Preface), "output must start with the connection preface");
        var frames = new List<RawFrame>();
        var p = Preface.Length;
        while (p < bytes.Length)
        {
            Assert.True(bytes.Length - p >= 9, "truncated frame header");
            var length = (bytes[p] << 16) | (bytes[p + 1] << 8) | bytes[p + 2];
            Assert.True(bytes.Length - p - 9 >= length, "truncated frame payload");
            var id = (int)(BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(p + 5)) & 0x7FFFFFFF);
            frames.Add(new RawFrame(bytes[p + 3], bytes[p + 4], id, bytes.AsSpan(p + 9, length).ToArray(), bytes.AsSpan(p, 9 + length).ToArray()));
            p += 9 + length;
        }

        return frames;
    }

    public sealed record Block(int StreamId, byte Flags, byte[]? Priority, byte[] Fragment, int FrameCount);

    /// <summary>Reassembles header blocks, stripping padding and priority, checking frame sequencing.</summary>
    public static List<Block> HeaderBlocks(List<RawFrame> frames, int maxFrameSize = 16384)
    {
        var blocks = new List<Block>();
        for (var i = 0; i < frames.Count; i++)
        {
            var f = frames[i];
            Assert.True(f.Payload.Length <= maxFrameSize, "frame larger than the max frame size");
            if (f.Type != Headers)
            {
                Assert.NotEqual(Continuation, f.Type);
                continue;
            }

            var start = 0;
            var end = f.Payload.Length;
            if ((f.Flags & Padded) != 0)
            {
                start = 1;
                end -= f.Payload[0];
            }

            byte[]? priority = null;
            if ((f.Flags & PriorityFlag) != 0)
            {
                priority = f.Payload.AsSpan(start, 5).ToArray();
                start += 5;
            }

            var fragment = new List<byte>(f.Payload.AsSpan(start, end - start).ToArray());
            var flags = f.Flags;
            var count = 1;
            var last = f;
            while ((last.Flags & EndHeaders) == 0)
            {
                last = frames[++i];
                Assert.Equal(Continuation, last.Type);
                Assert.Equal(f.StreamId, last.StreamId);
                Assert.True(last.Payload.Length <= maxFrameSize);
                fragment.AddRange(last.Payload);
                count++;
            }

            blocks.Add(new Block(f.StreamId, flags, priority, [.. fragment], count));
        }

        return blocks;
    }

    /// <summary>Decodes every header block of the output with the raw client's (independent) decoder.</summary>
    public static List<List<(string Name, string Value)>> DecodeAll(byte[] output)
    {
        var decoder = new RawHpackDecoder();
        return HeaderBlocks(ParseFrames(output)).Select(b => decoder.Decode(b.Fragment)).ToList();
    }

    public static string Value(List<(string Name, string Value)> fields, string name) => fields.Single(f => f.Name == name).Value;

    public static byte[] ClientSettings() => Frame(Settings, 0, 0, [0x00, 0x02, 0x00, 0x00, 0x00, 0x00]);
}
