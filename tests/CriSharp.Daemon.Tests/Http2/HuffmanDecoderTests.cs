using System.Text;
using CriSharp.Conformance.RawHttp2;
using CriSharp.Daemon.Http2;
using static CriSharp.Daemon.Tests.Http2.H2TestBytes;

namespace CriSharp.Daemon.Tests.Http2;

/// <summary>Huffman decoding against RFC 7541 and the raw client's independent encoder.</summary>
public class HuffmanDecoderTests
{
    private static string? Decode(byte[] encoded)
    {
        var buffer = new byte[HuffmanDecoder.MaxDecodedLength(encoded.Length)];
        var n = HuffmanDecoder.Decode(encoded, buffer);
        return n < 0 ? null : Encoding.Latin1.GetString(buffer, 0, n);
    }

    [Theory]
    // RFC 7541 C.4.1 - C.4.3 (requests) and C.6.1 (responses).
    [InlineData("f1e3 c2e5 f23a 6ba0 ab90 f4ff", "www.example.com")]
    [InlineData("a8eb 1064 9cbf", "no-cache")]
    [InlineData("25a8 49e9 5ba9 7d7f", "custom-key")]
    [InlineData("25a8 49e9 5bb8 e8b4 bf", "custom-value")]
    [InlineData("6402", "302")]
    [InlineData("aec3 771a 4b", "private")]
    [InlineData("d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff", "Mon, 21 Oct 2013 20:13:21 GMT")]
    [InlineData("9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3", "https://www.example.com")]
    [InlineData("", "")]
    public void Decodes_rfc7541_examples(string hex, string expected) => Assert.Equal(expected, Decode(Hex(hex)));

    [Fact]
    public void Table_is_complete_and_canonical()
    {
        // Kraft sum exactly 1 (a complete prefix code) and canonical ordering, which the decoder relies on.
        Assert.Equal(257, HuffmanDecoder.Table.Length);
        var kraft = HuffmanDecoder.Table.Sum(e => Math.Pow(2, -e.Length));
        Assert.Equal(1.0, kraft, 12);
        var sorted = Enumerable.Range(0, 257).OrderBy(s => HuffmanDecoder.Table[s].Length).ThenBy(s => s).ToArray();
        uint code = 0;
        for (var i = 0; i < sorted.Length; i++)
        {
            var (c, l) = HuffmanDecoder.Table[sorted[i]];
            if (i > 0)
            {
                code = (code + 1) << (l - HuffmanDecoder.Table[sorted[i - 1]].Length);
            }

            Assert.Equal(code, c);
        }

        Assert.Equal((0x3fffffffu, 30), HuffmanDecoder.Table[256]);
    }

    [Fact]
    public void Round_trips_every_octet_through_the_clients_independent_encoder()
    {
        var all = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        var random = new Random(7541);
        for (var round = 0; round < 200; round++)
        {
            var data = round == 0 ? all : Enumerable.Range(0, random.Next(0, 64)).Select(_ => (byte)random.Next(256)).ToArray();
            var encoded = RawHuffman.Encode(data);
            var buffer = new byte[HuffmanDecoder.MaxDecodedLength(encoded.Length)];
            var n = HuffmanDecoder.Decode(encoded, buffer);
            Assert.Equal(data, buffer.AsSpan(0, n).ToArray());
            Assert.Equal(data, RawHuffman.Decode(encoded));
        }
    }

    [Theory]
    [InlineData("ff ff ff ff")] // 32 one-bits: contains the 30-bit EOS code
    [InlineData("f1e3 c2e5 f23a 6ba0 ab90 f4ff ff")] // padding longer than 7 bits
    [InlineData("00")] // '0' (00000) then padding 000, not ones
    [InlineData("fe")] // 7-bit padding that is not all ones... 1111111|0 -> prefix "11111110" incomplete
    public void Rejects_invalid_input(string hex) => Assert.Null(Decode(Hex(hex)));

    [Fact]
    public void Rejects_a_too_small_destination()
    {
        var encoded = Hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff");
        Assert.Equal(-1, HuffmanDecoder.Decode(encoded, new byte[5]));
    }
}
