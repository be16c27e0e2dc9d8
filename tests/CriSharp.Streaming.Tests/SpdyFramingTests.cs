using System.Text;
using System.Text.Json;
using CriSharp.Streaming.RemoteCommand;
using CriSharp.Streaming.Spdy;
using CriSharp.TestSupport.Streaming;

namespace CriSharp.Streaming.Tests;

/// <summary>The SPDY dictionary, header compression in both directions against .NET's zlib, and frame encoding.</summary>
public sealed class SpdyFramingTests
{
    [Fact]
    public void Dictionary_is_the_spec_dictionary()
    {
        Assert.Equal(1423, SpdyDictionary.Bytes.Length);
        Assert.Equal(0xE3C6A7C2u, SpdyDictionary.Id);
        // The test client's copy was transcribed separately; both must be byte-identical.
        Assert.Equal(0xE3C6A7C2u, TestSpdyZlib.Adler32(TestSpdyZlib.Dictionary));
        Assert.Equal(TestSpdyZlib.Dictionary, SpdyDictionary.Bytes);
    }

    static byte[] Block(params (string, string)[] pairs)
    {
        var h = new SpdyHeaders();
        foreach (var (n, v) in pairs) h.Add(n, v);
        return h.Encode();
    }

    [Fact]
    public void Our_compressed_blocks_inflate_with_zlib_across_one_shared_context()
    {
        var deflater = new HeaderBlockDeflater();
        var zlib = new TestSpdyZlib();
        var blocks = new[]
        {
            Block(("streamtype", "error"), ("content-type", "text/plain")),
            Block(("streamtype", "stdout"), ("accept-encoding", "gzip,deflate")),
            Block(),
            Block(("x-long", new string('z', 5000)), ("x-again", new string('z', 300))),
        };
        foreach (var block in blocks)
        {
            var compressed = deflater.Deflate(block);
            Assert.Equal(block, zlib.Decompress(compressed));
        }
    }

    [Fact]
    public void Dictionary_words_compress_to_back_references()
    {
        var block = Block(("content-type", "application/xhtml+xml"), ("accept-language", "charset=utf-8"));
        Assert.True(new HeaderBlockDeflater().Deflate(block).Length < block.Length / 2);
    }

    [Fact]
    public void Zlib_compressed_blocks_inflate_with_our_inflater()
    {
        var zlib = new TestSpdyZlib();
        var inflater = new HeaderBlockInflater();
        var random = new Random(42);
        for (int i = 0; i < 30; i++)
        {
            // Mixed content makes zlib pick stored, fixed and dynamic Huffman blocks over the run.
            var noise = new byte[random.Next(0, i % 5 == 0 ? 70000 : 400)];
            random.NextBytes(noise);
            var block = Block(("streamtype", i % 2 == 0 ? "stdin" : "stdout"), ("port", i.ToString()), ("noise", Convert.ToBase64String(noise)));
            Assert.Equal(block, inflater.Inflate(zlib.Compress(block)));
        }
    }

    [Fact]
    public void Our_deflater_and_inflater_agree_beyond_the_window()
    {
        var deflater = new HeaderBlockDeflater();
        var inflater = new HeaderBlockInflater();
        var random = new Random(7);
        for (int i = 0; i < 20; i++)
        {
            var text = string.Concat(Enumerable.Range(0, random.Next(1, 3000)).Select(_ => "abcdefgh"[random.Next(8)]));
            var block = Block(("requestid", i.ToString()), ("payload", text));
            Assert.Equal(block, inflater.Inflate(deflater.Deflate(block)));
        }
    }

    [Fact]
    public void A_wrong_dictionary_is_refused()
    {
        byte[] zlibHeaderWithOtherDictionary = [0x78, 0xF9, 0x01, 0x02, 0x03, 0x04, 0x03, 0x00];
        Assert.Throws<SpdyProtocolException>(() => new HeaderBlockInflater().Inflate(zlibHeaderWithOtherDictionary));
    }

    [Fact]
    public void Frames_round_trip_through_the_codec()
    {
        var writer = new SpdyFrameCodec();
        var reader = new SpdyFrameCodec();
        SpdyFrame[] frames =
        [
            new SynStreamFrame(1, 0, 3, SpdyFrame.FlagFin, new SpdyHeaders().Add("streamType", "error").Add("port", "80")),
            new SynReplyFrame(1, 0, new SpdyHeaders()),
            new HeadersFrame(3, SpdyFrame.FlagFin, new SpdyHeaders().Add("a", "b\0c")),
            new DataFrame(5, SpdyFrame.FlagFin, Encoding.ASCII.GetBytes("hello")),
            new RstStreamFrame(7, SpdyResetStatus.RefusedStream),
            new SettingsFrame(0, [new SpdySetting(0, SpdyFrame.SettingInitialWindowSize, 1 << 20)]),
            new PingFrame(0x01020305),
            new GoAwayFrame(9, SpdyGoAwayStatus.ProtocolError),
            new WindowUpdateFrame(0, 32768),
        ];
        foreach (var frame in frames)
        {
            var bytes = writer.Encode(frame);
            var decoded = reader.Decode(bytes.AsSpan(0, 8), bytes.AsMemory(8));
            switch (frame)
            {
                case SynStreamFrame s:
                    var ds = Assert.IsType<SynStreamFrame>(decoded);
                    Assert.Equal((s.StreamId, s.Priority, s.Flags), (ds.StreamId, ds.Priority, ds.Flags));
                    Assert.Equal("error", ds.Headers.Get("streamtype"));
                    Assert.Equal("80", ds.Headers.Get("PORT"));
                    break;
                case SynReplyFrame:
                    Assert.Empty(Assert.IsType<SynReplyFrame>(decoded).Headers.Pairs);
                    break;
                case HeadersFrame:
                    var dh = Assert.IsType<HeadersFrame>(decoded);
                    Assert.True(dh.Fin);
                    Assert.Equal("b", dh.Headers.Get("a"));
                    break;
                case DataFrame d:
                    var dd = Assert.IsType<DataFrame>(decoded);
                    Assert.Equal((d.StreamId, true, "hello"), (dd.StreamId, dd.Fin, Encoding.ASCII.GetString(dd.Data.Span)));
                    break;
                case SettingsFrame:
                    Assert.Equal(new SpdySetting(0, 7, 1 << 20), Assert.IsType<SettingsFrame>(decoded).Settings.Single());
                    break;
                default:
                    Assert.Equal(frame, decoded);
                    break;
            }
        }
    }

    [Fact]
    public void Frame_layout_matches_the_spec()
    {
        var codec = new SpdyFrameCodec();
        // Control bit + version 3, type 6, no flags, length 4, then the id.
        Assert.Equal(new byte[] { 0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x05 }, codec.Encode(new PingFrame(5)));
        // Data: 31-bit stream id, FIN flag, 24-bit length.
        Assert.Equal(new byte[] { 0x00, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x02, (byte)'h', (byte)'i' }, codec.Encode(new DataFrame(3, SpdyFrame.FlagFin, "hi"u8.ToArray())));
        Assert.Equal(new byte[] { 0x80, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00, 0x08, 0, 0, 0, 1, 0, 0, 0x80, 0 }, codec.Encode(new WindowUpdateFrame(1, 32768)));
    }

    [Fact]
    public void Unsupported_versions_and_bad_lengths_are_protocol_errors()
    {
        var codec = new SpdyFrameCodec();
        Assert.Throws<SpdyProtocolException>(() => codec.Decode(new byte[] { 0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4 }, new byte[4]));
        Assert.Throws<SpdyProtocolException>(() => codec.Decode(new byte[] { 0x80, 0x03, 0x00, 0x03, 0, 0, 0, 4 }, new byte[4]));
        Assert.IsType<UnknownControlFrame>(codec.Decode(new byte[] { 0x80, 0x03, 0x00, 0x0A, 0, 0, 0, 0 }, Array.Empty<byte>()));
    }

    [Fact]
    public async Task Resize_messages_are_read_however_they_are_split()
    {
        var text = "{\"Width\":80,\"Height\":24}\n{\"Width\":120,\"Height\":40}{\"width\":7,\"height\":9}";
        var sizes = new List<(ushort, ushort)>();
        await foreach (var s in TerminalSizeReader.ReadAllAsync(new TrickleStream(Encoding.UTF8.GetBytes(text), 5), CancellationToken.None))
            sizes.Add((s.Width, s.Height));
        Assert.Equal([(80, 24), (120, 40), (7, 9)], sizes);
    }

    [Fact]
    public void Exit_status_is_the_json_kubernetes_clients_decode()
    {
        var failure = JsonSerializer.Serialize(CommandStatus.Exited(7), StreamingJsonContext.Default.CommandStatus);
        Assert.Equal("""{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 7","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"7"}]}}""", failure);
        Assert.Equal("""{"metadata":{},"status":"Success"}""", JsonSerializer.Serialize(CommandStatus.Exited(0), StreamingJsonContext.Default.CommandStatus));
    }

    /// <summary>Returns at most a few bytes per read, like a network that splits messages anywhere.</summary>
    sealed class TrickleStream(byte[] data, int step) : MemoryStream(data)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) =>
            base.ReadAsync(buffer[..Math.Min(step, buffer.Length)], ct);
    }
}
