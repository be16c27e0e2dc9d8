using System.Text;
using CriSharp.Conformance.RawHttp2;
using CriSharp.Daemon.Http2;
using static CriSharp.Daemon.Tests.Http2.H2TestBytes;

namespace CriSharp.Daemon.Tests.Http2;

/// <summary>The byte-stream rewriter, driven without sockets.</summary>
public class Http2FrameRewriterTests
{
    private static byte[] Connection(params byte[][] frames) => Concat([Preface, ClientSettings(), .. frames]);

    private static byte[] Encode(RawHpackEncoder encoder, string authority, string path = "/runtime.v1.RuntimeService/Version") =>
        encoder.Encode(Request(authority, path));

    private static void AssertRewritten(List<(string Name, string Value)> fields, string path = "/runtime.v1.RuntimeService/Version")
    {
        Assert.Equal(
            [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"), ("content-type", "application/grpc"), ("te", "trailers")],
            fields);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rewrites_a_socket_path_authority(bool huffman)
    {
        var input = Connection(HeaderFrames(1, Encode(new RawHpackEncoder(huffman, false), SocketAuthority)));
        var output = Rewrite(input, out var rewriter);
        AssertRewritten(Assert.Single(DecodeAll(output)));
        Assert.Equal(1, rewriter.Rewrites);
        Assert.Null(rewriter.PassthroughReason);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rewrites_an_authority_referenced_from_the_dynamic_table(bool huffman)
    {
        var encoder = new RawHpackEncoder(huffman, useDynamicTable: true);
        var first = Encode(encoder, SocketAuthority);
        var second = Encode(encoder, SocketAuthority);

        // The second block only refers to the table: one byte per field.
        Assert.Contains((":authority", SocketAuthority), encoder.DynamicTable);
        Assert.True(second.Length <= 6, $"second block should be all indexes, was {second.Length} bytes");

        var output = Rewrite(Connection(HeaderFrames(1, first), HeaderFrames(3, second)), out var rewriter);
        var blocks = DecodeAll(output);
        Assert.Equal(2, blocks.Count);
        AssertRewritten(blocks[0]);
        AssertRewritten(blocks[1]);
        Assert.Equal(2, rewriter.Rewrites);
    }

    [Fact]
    public void Many_requests_with_a_small_table_track_evictions()
    {
        // A 256-octet table (announced by a size update) evicts on nearly every request.
        var encoder = new RawHpackEncoder(huffman: true, useDynamicTable: true, tableSize: 256);
        var frames = new List<byte[]>();
        for (var i = 0; i < 60; i++)
        {
            var authority = i % 3 == 0 ? "localhost:" + (8000 + (i % 7)) : SocketAuthority + (i % 4);
            frames.Add(HeaderFrames((2 * i) + 1, Encode(encoder, authority, "/svc/M" + (i % 5)), fragmentSize: 1 + (i % 9)));
        }

        var output = Rewrite(Connection([.. frames]), out var rewriter, chunkSize: 13);
        var blocks = DecodeAll(output);
        Assert.Equal(60, blocks.Count);
        for (var i = 0; i < 60; i++)
        {
            var expected = i % 3 == 0 ? "localhost:" + (8000 + (i % 7)) : "localhost";
            Assert.Equal(expected, Value(blocks[i], ":authority"));
            Assert.Equal("/svc/M" + (i % 5), Value(blocks[i], ":path"));
        }

        Assert.Equal(40, rewriter.Rewrites);
        Assert.Null(rewriter.PassthroughReason);
    }

    [Fact]
    public void Rewrites_a_block_split_over_continuation_frames()
    {
        var block = Encode(new RawHpackEncoder(true, true), SocketAuthority);
        var input = Connection(HeaderFrames(1, block, fragmentSize: 5));
        Assert.True(ParseFrames(input).Count(f => f.Type == Continuation) > 5);
        AssertRewritten(Assert.Single(DecodeAll(Rewrite(input))));
    }

    [Fact]
    public void Strips_padding_and_keeps_priority_and_end_stream()
    {
        byte[] priority = [0x80, 0x00, 0x00, 0x03, 0x10];
        var block = Encode(new RawHpackEncoder(false, false), SocketAuthority);
        var input = Connection(HeaderFrames(5, block, fragmentSize: 10, padLength: 7, priority: priority, endStream: true));
        var output = Rewrite(input);

        var blocks = HeaderBlocks(ParseFrames(output));
        var b = Assert.Single(blocks);
        Assert.Equal(5, b.StreamId);
        Assert.Equal(0, b.Flags & Padded);
        Assert.NotEqual(0, b.Flags & PriorityFlag);
        Assert.NotEqual(0, b.Flags & EndStream);
        Assert.Equal(priority, b.Priority);
        AssertRewritten(new RawHpackDecoder().Decode(b.Fragment));
    }

    [Fact]
    public void Byte_by_byte_segmentation_gives_the_same_output()
    {
        var encoder = new RawHpackEncoder(true, true);
        var input = Connection(
            HeaderFrames(1, Encode(encoder, SocketAuthority), fragmentSize: 3, padLength: 4),
            Frame(Data, EndStream, 1, [0, 0, 0, 0, 2, 0x0a, 0x00]),
            Frame(WindowUpdate, 0, 0, [0, 0, 0x10, 0]),
            HeaderFrames(3, Encode(encoder, SocketAuthority), priority: [0, 0, 0, 1, 7]),
            Frame(Data, EndStream, 3, []));
        var whole = Rewrite(input);
        var byteByByte = Rewrite(input, chunkSize: 1);
        Assert.Equal(whole, byteByByte);
        Assert.Equal(whole, Rewrite(input, chunkSize: 7));
        var blocks = DecodeAll(byteByByte);
        Assert.Equal(2, blocks.Count);
        AssertRewritten(blocks[0]);
        AssertRewritten(blocks[1]);
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("127.0.0.1:8080")]
    [InlineData("[::1]:80")]
    [InlineData("")]
    public void Leaves_valid_authorities_alone(string authority)
    {
        var output = Rewrite(Connection(HeaderFrames(1, Encode(new RawHpackEncoder(true, true), authority))), out var rewriter);
        Assert.Equal(authority, Value(Assert.Single(DecodeAll(output)), ":authority"));
        Assert.Equal(0, rewriter.Rewrites);
    }

    [Fact]
    public void Rewrites_an_invalid_host_header_too()
    {
        var block = new RawHpackEncoder(false, false).Encode([(":method", "GET"), (":scheme", "http"), (":path", "/"), ("host", SocketAuthority)]);
        var fields = Assert.Single(DecodeAll(Rewrite(Connection(HeaderFrames(1, block)))));
        Assert.Equal("localhost", Value(fields, "host"));
    }

    [Fact]
    public void Keeps_never_indexed_fields_never_indexed()
    {
        var block = new RawHpackEncoder(true, true).Encode([.. Request(SocketAuthority), ("authorization", "secret")], new HashSet<string> { "authorization", ":authority" });
        var b = Assert.Single(HeaderBlocks(ParseFrames(Rewrite(Connection(HeaderFrames(1, block))))));
        var fields = new List<HpackHeaderField>();
        Assert.True(new HpackDecoder(4096, 65536).TryDecode(b.Fragment, fields, [], out _));
        Assert.True(fields.Single(f => Encoding.ASCII.GetString(f.Name) == "authorization").NeverIndexed);
        var authority = fields.Single(f => Encoding.ASCII.GetString(f.Name) == ":authority");
        Assert.True(authority.NeverIndexed);
        Assert.Equal("localhost", Encoding.ASCII.GetString(authority.Value));
    }

    [Fact]
    public void Output_uses_no_huffman_no_dynamic_table_and_forwards_size_updates()
    {
        var encoder = new RawHpackEncoder(true, true);
        var output = Rewrite(Connection(HeaderFrames(1, Encode(encoder, SocketAuthority)), HeaderFrames(3, Encode(encoder, SocketAuthority))));
        var blocks = HeaderBlocks(ParseFrames(output));
        var decoder = new RawHpackDecoder();
        foreach (var b in blocks)
        {
            decoder.Decode(b.Fragment);
            Assert.Empty(decoder.DynamicTable);
        }

        // The client's "0, then 4096" size updates lead the first block, as received.
        Assert.Equal([0x20, 0x3f, 0xe1, 0x1f], blocks[0].Fragment.AsSpan(0, 4).ToArray());
        Assert.DoesNotContain((byte)0x20, blocks[1].Fragment.AsSpan(0, 1).ToArray());
    }

    [Fact]
    public void Splits_a_grown_block_at_the_max_frame_size()
    {
        // 20000 Huffman-coded '0's take 12500 octets in one frame, and 20000 once decoded.
        var block = new RawHpackEncoder(true, false).Encode([.. Request(SocketAuthority), ("x-big", new string('0', 20000))]);
        Assert.True(block.Length < 16384);
        var output = Rewrite(Connection(HeaderFrames(1, block, priority: [0, 0, 0, 0, 1])));
        var b = Assert.Single(HeaderBlocks(ParseFrames(output)));
        Assert.True(b.FrameCount >= 2);
        var fields = new RawHpackDecoder().Decode(b.Fragment);
        Assert.Equal(new string('0', 20000), Value(fields, "x-big"));
        Assert.Equal("localhost", Value(fields, ":authority"));
    }

    [Fact]
    public void Passes_non_header_frames_through_unchanged()
    {
        var input = Connection(
            Frame(Settings, 0x1, 0, []),
            Frame(WindowUpdate, 0, 0, [0, 0x0f, 0, 0]),
            Frame(Ping, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8]),
            Frame(Priority, 0, 3, [0, 0, 0, 1, 0x20]),
            Frame(Data, Padded | EndStream, 1, [3, 0xaa, 0xbb, 0, 0, 0]),
            Frame(RstStream, 0, 1, [0, 0, 0, 8]),
            Frame(0xfa, 0xff, 9, new byte[20000]), // unknown type, larger than a frame may be; not ours to judge
            Frame(GoAway, 0, 0, [0, 0, 0, 0, 0, 0, 0, 0]));
        Assert.Equal(input, Rewrite(input));
        Assert.Equal(input, Rewrite(input, chunkSize: 1));
    }

    [Fact]
    public void Other_frames_around_header_blocks_keep_their_bytes()
    {
        var data = Frame(Data, EndStream, 1, [0, 0, 0, 0, 1, 0x42]);
        var ping = Frame(Ping, 0, 0, [8, 7, 6, 5, 4, 3, 2, 1]);
        var output = Rewrite(Connection(HeaderFrames(1, Encode(new RawHpackEncoder(false, false), SocketAuthority)), data, ping));
        var frames = ParseFrames(output);
        Assert.Equal(data, frames[^2].Bytes);
        Assert.Equal(ping, frames[^1].Bytes);
        Assert.Equal(ClientSettings(), frames[0].Bytes);
    }

    [Theory]
    [InlineData("be")] // dynamic index on an empty table
    [InlineData("41 84 ffff ffff")] // EOS inside a Huffman string
    [InlineData("82 20")] // size update after a field
    public void Malformed_block_passes_through_untouched(string hex)
    {
        var badBlock = Hex(hex);
        var after = Concat(HeaderFrames(3, Encode(new RawHpackEncoder(false, false), SocketAuthority)), Frame(Ping, 0, 0, new byte[8]));
        var input = Connection(HeaderFrames(1, badBlock), after);
        var output = Rewrite(input, out var rewriter);
        Assert.Equal(input, output);
        Assert.NotNull(rewriter.PassthroughReason);
        Assert.Equal(output, Rewrite(input, chunkSize: 1));
    }

    [Fact]
    public void Protocol_violations_pass_through_without_exceptions()
    {
        var block = Encode(new RawHpackEncoder(false, false), SocketAuthority);

        // A PING in the middle of a header block: the part received so far goes on, then everything raw.
        var split = HeaderFrames(1, block, fragmentSize: 10);
        var firstFrameLength = 9 + 10;
        var interleaved = Connection(split[..firstFrameLength], Frame(Ping, 0, 0, new byte[8]), split[firstFrameLength..]);
        var output = Rewrite(interleaved, out var rewriter);
        Assert.Equal(interleaved, output);
        Assert.NotNull(rewriter.PassthroughReason);

        // CONTINUATION without HEADERS, HEADERS on stream 0, padding longer than the frame, truncated stream.
        foreach (var bad in new[]
        {
            Connection(Frame(Continuation, EndHeaders, 1, block)),
            Connection(Frame(Headers, EndHeaders, 0, block)),
            Connection(Frame(Headers, EndHeaders | Padded, 1, [200, 0x82])),
            Connection(Frame(Headers, EndHeaders | Padded, 1, [])),
            Connection(Frame(Headers, EndHeaders | PriorityFlag, 1, [0, 0])),
        })
        {
            Assert.Equal(bad, Rewrite(bad));
            Assert.Equal(bad, Rewrite(bad, chunkSize: 1));
        }

        var truncated = Connection(HeaderFrames(1, block))[..^3];
        Assert.Equal(Preface.Length + ClientSettings().Length, Rewrite(truncated).Length);
    }

    [Fact]
    public void Oversized_header_frame_passes_through()
    {
        var block = Encode(new RawHpackEncoder(false, false), SocketAuthority);
        var input = Connection(Frame(Headers, EndHeaders, 1, [.. block, .. new byte[16385 - block.Length]]));
        var output = Rewrite(input, out var rewriter);
        Assert.Equal(input, output);
        Assert.Contains("MAX_FRAME_SIZE", rewriter.PassthroughReason);
    }

    [Fact]
    public void Non_http2_bytes_pass_through()
    {
        var http1 = Encoding.ASCII.GetBytes("POST /x HTTP/1.1\r\nHost: /run/crisharp.sock\r\n\r\n");
        Assert.Equal(http1, Rewrite(http1));
        Assert.Equal(http1, Rewrite(http1, chunkSize: 1));
        var almost = Concat(Preface[..10], Encoding.ASCII.GetBytes("garbage"));
        Assert.Equal(almost, Rewrite(almost, chunkSize: 1));
    }

    [Fact]
    public void Random_garbage_never_throws()
    {
        var random = new Random(7540);
        for (var round = 0; round < 300; round++)
        {
            var garbage = new byte[random.Next(0, 400)];
            random.NextBytes(garbage);
            var input = Connection(HeaderFrames(1, garbage, fragmentSize: 1 + random.Next(50)), garbage);
            var output = Rewrite(input, chunkSize: 1 + random.Next(40));
            Assert.True(output.Length > 0);
        }
    }
}
