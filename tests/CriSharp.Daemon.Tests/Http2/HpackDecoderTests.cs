using System.Text;
using CriSharp.Daemon.Http2;
using static CriSharp.Daemon.Tests.Http2.H2TestBytes;

namespace CriSharp.Daemon.Tests.Http2;

/// <summary>HPACK decoding against the RFC 7541 Appendix C sequences and malformed input.</summary>
public class HpackDecoderTests
{
    private static List<(string, string)> Decode(HpackDecoder decoder, string hex)
    {
        var fields = new List<HpackHeaderField>();
        Assert.True(decoder.TryDecode(Hex(hex), fields, [], out var error), error);
        return fields.Select(f => (Encoding.Latin1.GetString(f.Name), Encoding.Latin1.GetString(f.Value))).ToList();
    }

    private static List<(string, string)> Table(HpackDecoder decoder) =>
        Enumerable.Range(62, decoder.TableCount).Select(i => decoder.GetDynamic(i)).Select(e => (Encoding.Latin1.GetString(e.Name), Encoding.Latin1.GetString(e.Value))).ToList();

    private static readonly (string, string)[] Request1 = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")];
    private static readonly (string, string)[] Request2 = [.. Request1, ("cache-control", "no-cache")];
    private static readonly (string, string)[] Request3 = [(":method", "GET"), (":scheme", "https"), (":path", "/index.html"), (":authority", "www.example.com"), ("custom-key", "custom-value")];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Decodes_rfc7541_request_sequences_C3_and_C4(bool huffman)
    {
        var decoder = new HpackDecoder(4096, 64 * 1024);
        string[] blocks = huffman
            ? ["8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", "8286 84be 5886 a8eb 1064 9cbf", "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"]
            : ["8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", "8286 84be 5808 6e6f 2d63 6163 6865", "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65"];

        Assert.Equal(Request1, Decode(decoder, blocks[0]));
        Assert.Equal(57, decoder.TableSize);
        Assert.Equal(Request2, Decode(decoder, blocks[1]));
        Assert.Equal(110, decoder.TableSize);
        Assert.Equal(Request3, Decode(decoder, blocks[2]));
        Assert.Equal(164, decoder.TableSize);
        Assert.Equal([("custom-key", "custom-value"), ("cache-control", "no-cache"), (":authority", "www.example.com")], Table(decoder));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Decodes_rfc7541_response_sequences_C5_and_C6_with_eviction(bool huffman)
    {
        var decoder = new HpackDecoder(256, 64 * 1024);
        string[] blocks = huffman
            ?
            [
                "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                "4883 640e ffc1 c0bf",
                "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
            ]
            :
            [
                "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                "4803 3330 37c1 c0bf",
                "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
            ];

        const string date1 = "Mon, 21 Oct 2013 20:13:21 GMT", date2 = "Mon, 21 Oct 2013 20:13:22 GMT", location = "https://www.example.com";
        const string cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

        Assert.Equal([(":status", "302"), ("cache-control", "private"), ("date", date1), ("location", location)], Decode(decoder, blocks[0]));
        Assert.Equal(222, decoder.TableSize);
        Assert.Equal([("location", location), ("date", date1), ("cache-control", "private"), (":status", "302")], Table(decoder));

        Assert.Equal([(":status", "307"), ("cache-control", "private"), ("date", date1), ("location", location)], Decode(decoder, blocks[1]));
        Assert.Equal(222, decoder.TableSize);
        Assert.Equal([(":status", "307"), ("location", location), ("date", date1), ("cache-control", "private")], Table(decoder));

        Assert.Equal(
            [(":status", "200"), ("cache-control", "private"), ("date", date2), ("location", location), ("content-encoding", "gzip"), ("set-cookie", cookie)],
            Decode(decoder, blocks[2]));
        Assert.Equal(215, decoder.TableSize);
        Assert.Equal([("set-cookie", cookie), ("content-encoding", "gzip"), ("date", date2)], Table(decoder));
    }

    [Fact]
    public void Size_update_shrinks_and_evicts_and_must_lead_the_block()
    {
        var decoder = new HpackDecoder(4096, 64 * 1024);
        Decode(decoder, "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
        Assert.Equal(1, decoder.TableCount);

        var fields = new List<HpackHeaderField>();
        var updates = new List<int>();
        Assert.True(decoder.TryDecode(Hex("20 3fe1 1f 82"), fields, updates, out _)); // 0, then 4096
        Assert.Equal([0, 4096], updates);
        Assert.Equal(0, decoder.TableCount);
        Assert.Equal(4096, decoder.MaxTableSize);

        Assert.False(new HpackDecoder(4096, 65536).TryDecode(Hex("82 20"), [], [], out _)); // update after a field
        Assert.False(new HpackDecoder(4096, 65536).TryDecode(Hex("3fe2 1f"), [], [], out _)); // 4097 > limit
    }

    [Theory]
    [InlineData("80")] // index 0
    [InlineData("be")] // dynamic index 62 on an empty table
    [InlineData("41 8c f1e3")] // truncated Huffman string
    [InlineData("41 84 ffff ffff")] // EOS inside a Huffman string
    [InlineData("7f")] // truncated integer
    [InlineData("7f ff ff ff ff ff 01")] // integer overflow
    [InlineData("40")] // literal with no name
    public void Rejects_malformed_blocks(string hex) => Assert.False(new HpackDecoder(4096, 65536).TryDecode(Hex(hex), [], [], out _));

    [Fact]
    public void Never_indexed_and_entry_larger_than_table()
    {
        var decoder = new HpackDecoder(64, 65536);
        var fields = new List<HpackHeaderField>();
        // never indexed "password: secret" (RFC C.2.3), then a 40-byte entry into a 64-byte table... empties it.
        Assert.True(decoder.TryDecode(Hex("1008 7061 7373 776f 7264 0673 6563 7265 74"), fields, [], out _));
        Assert.True(fields[0].NeverIndexed);
        Assert.True(decoder.TryDecode(Hex("4003 6162 6301 78"), fields, [], out _)); // abc: x (36) fits
        Assert.Equal(1, decoder.TableCount);
        Assert.True(decoder.TryDecode(Hex("4003 6162 6320" + string.Concat(Enumerable.Repeat("61", 32))), fields, [], out _)); // 67 > 64
        Assert.Equal(0, decoder.TableCount);
        Assert.Equal(0, decoder.TableSize);
    }

    [Fact]
    public void Header_list_budget_bounds_index_amplification()
    {
        var decoder = new HpackDecoder(4096, 1000);

        // "abc: <500 x a>" with incremental indexing: 535 HPACK octets, within the budget.
        byte[] insert = [0x40, 0x03, (byte)'a', (byte)'b', (byte)'c', 0x7f, 0xf5, 0x02, .. Enumerable.Repeat((byte)'a', 500)];
        Assert.True(decoder.TryDecode(insert, [], [], out _));

        // Two one-byte references to it expand to 1070 octets: refused instead of expanded without bound.
        Assert.False(decoder.TryDecode([0xbe, 0xbe], [], [], out var error));
        Assert.Equal("header list too large", error);
    }
}
