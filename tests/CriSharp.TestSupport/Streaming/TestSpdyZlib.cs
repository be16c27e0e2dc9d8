using System.IO.Compression;
using System.Text;

namespace CriSharp.TestSupport.Streaming;

/// <summary>
/// The test client's SPDY header compression, deliberately built differently from the server's: .NET's own zlib
/// (DeflateStream), with the dictionary supplied by priming — compressing it first and discarding that output on the
/// way out, and prepending it as stored blocks on the way in. Each direction is one stream for the connection.
/// </summary>
sealed class TestSpdyZlib
{
    /// <summary>The SPDY/3 dictionary, transcribed separately from the server's copy (spec section 2.6.10.1).</summary>
    public static readonly byte[] Dictionary = Encoding.ASCII.GetBytes(
        "\0\0\0\u0007options\0\0\0\u0004head\0\0\0\u0004post\0\0\0\u0003put\0\0\0\u0006delete\0\0\0\u0005trace" +
        "\0\0\0\u0006accept\0\0\0\u000Eaccept-charset\0\0\0\u000Faccept-encoding\0\0\0\u000Faccept-language" +
        "\0\0\0\u000Daccept-ranges\0\0\0\u0003age\0\0\0\u0005allow\0\0\0\u000Dauthorization\0\0\0\u000Dcache-control" +
        "\0\0\0\u000Aconnection\0\0\0\u000Ccontent-base\0\0\0\u0010content-encoding\0\0\0\u0010content-language" +
        "\0\0\0\u000Econtent-length\0\0\0\u0010content-location\0\0\0\u000Bcontent-md5\0\0\0\u000Dcontent-range" +
        "\0\0\0\u000Ccontent-type\0\0\0\u0004date\0\0\0\u0004etag\0\0\0\u0006expect\0\0\0\u0007expires\0\0\0\u0004from" +
        "\0\0\0\u0004host\0\0\0\u0008if-match\0\0\0\u0011if-modified-since\0\0\0\u000Dif-none-match\0\0\0\u0008if-range" +
        "\0\0\0\u0013if-unmodified-since\0\0\0\u000Dlast-modified\0\0\0\u0008location\0\0\0\u000Cmax-forwards" +
        "\0\0\0\u0006pragma\0\0\0\u0012proxy-authenticate\0\0\0\u0013proxy-authorization\0\0\0\u0005range" +
        "\0\0\0\u0007referer\0\0\0\u000Bretry-after\0\0\0\u0006server\0\0\0\u0002te\0\0\0\u0007trailer" +
        "\0\0\0\u0011transfer-encoding\0\0\0\u0007upgrade\0\0\0\u000Auser-agent\0\0\0\u0004vary\0\0\0\u0003via" +
        "\0\0\0\u0007warning\0\0\0\u0010www-authenticate\0\0\0\u0006method\0\0\0\u0003get\0\0\0\u0006status" +
        "\0\0\0\u0006200 OK\0\0\0\u0007version\0\0\0\u0008HTTP/1.1\0\0\0\u0003url\0\0\0\u0006public" +
        "\0\0\0\u000Aset-cookie\0\0\0\u000Akeep-alive\0\0\0\u0006origin" +
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505" +
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized" +
        "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable" +
        "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT" +
        "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain," +
        "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.");

    readonly MemoryStream _compressed = new();
    readonly DeflateStream _compressor;
    long _compressedMark;
    bool _headerSent;

    readonly MemoryStream _received = new();
    bool _headerReceived;
    long _inflatedSoFar;

    public TestSpdyZlib()
    {
        _compressor = new DeflateStream(_compressed, CompressionLevel.SmallestSize, leaveOpen: true);
        _compressor.Write(Dictionary);
        _compressor.Flush();
        _compressedMark = _compressed.Length;
    }

    public static uint Adler32(byte[] data)
    {
        uint a = 1, b = 0;
        foreach (var d in data)
        {
            a = (a + d) % 65521;
            b = (b + a) % 65521;
        }
        return (b << 16) | a;
    }

    public byte[] Compress(byte[] block)
    {
        _compressor.Write(block);
        _compressor.Flush(); // a sync flush, so the server can decode this block on its own
        var bytes = _compressed.ToArray()[(int)_compressedMark..];
        _compressedMark = _compressed.Length;
        if (_headerSent) return bytes;
        _headerSent = true;
        uint id = Adler32(Dictionary);
        // 0x78: deflate, 32 KiB window; 0xF9: FDICT and FLEVEL 3, with FCHECK (0x78F9 is a multiple of 31).
        return [0x78, 0xF9, (byte)(id >> 24), (byte)(id >> 16), (byte)(id >> 8), (byte)id, .. bytes];
    }

    public byte[] Decompress(byte[] chunk)
    {
        int skip = 0;
        if (!_headerReceived)
        {
            if ((chunk[1] & 0x20) == 0) throw new InvalidDataException("server header block has no FDICT");
            uint id = (uint)(chunk[2] << 24 | chunk[3] << 16 | chunk[4] << 8 | chunk[5]);
            if (id != Adler32(Dictionary)) throw new InvalidDataException($"server used dictionary {id:x8}");
            skip = 6;
            _headerReceived = true;
        }
        _received.Write(chunk, skip, chunk.Length - skip);

        // Re-inflate everything so far behind the dictionary as stored blocks: simple, and fine for a test's few frames.
        var all = new MemoryStream();
        all.Write([0x00, (byte)Dictionary.Length, (byte)(Dictionary.Length >> 8), (byte)~Dictionary.Length, (byte)(~Dictionary.Length >> 8)]);
        all.Write(Dictionary);
        _received.Position = 0;
        _received.CopyTo(all);
        all.Position = 0;
        var output = new MemoryStream();
        using (var inflater = new DeflateStream(all, CompressionMode.Decompress)) inflater.CopyTo(output);
        var result = output.ToArray()[(int)(Dictionary.Length + _inflatedSoFar)..];
        _inflatedSoFar += result.Length;
        return result;
    }
}
