using System.Text;

namespace CriSharp.Streaming.Spdy;

/// <summary>
/// The zlib dictionary SPDY/3 header blocks are compressed against (spec section 2.6.10.1): header names
/// and common values, each name with a 32-bit big-endian length prefix, then a run of status codes, dates
/// and MIME types. 1423 bytes, Adler-32 0xE3C6A7C2 (the DICTID both peers check).
/// </summary>
static class SpdyDictionary
{
    /// <summary>The names that open the dictionary, in spec order; each is written as length + bytes.</summary>
    static readonly string[] LengthPrefixedWords =
    [
        "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
        "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
        "content-base", "content-encoding", "content-language", "content-length", "content-location",
        "content-md5", "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host",
        "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified",
        "location", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
        "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via",
        "warning", "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
        "public", "set-cookie", "keep-alive", "origin",
    ];

    /// <summary>The unprefixed tail. No terminating NUL: with one the DICTID would not match what peers send.</summary>
    const string Tail =
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505" +
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized" +
        "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable" +
        "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT" +
        "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain," +
        "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

    public static readonly byte[] Bytes = Build();

    /// <summary>Adler-32 of <see cref="Bytes"/>: the DICTID in the zlib header of every header-block stream.</summary>
    public static readonly uint Id = Adler32(Bytes);

    static byte[] Build()
    {
        var bytes = new List<byte>(1423);
        foreach (var word in LengthPrefixedWords)
        {
            var w = Encoding.ASCII.GetBytes(word);
            bytes.AddRange([(byte)(w.Length >> 24), (byte)(w.Length >> 16), (byte)(w.Length >> 8), (byte)w.Length]);
            bytes.AddRange(w);
        }
        bytes.AddRange(Encoding.ASCII.GetBytes(Tail));
        return [.. bytes];
    }

    public static uint Adler32(ReadOnlySpan<byte> data)
    {
        const uint Mod = 65521;
        uint a = 1, b = 0;
        foreach (var d in data)
        {
            a = (a + d) % Mod;
            b = (b + a) % Mod;
        }
        return (b << 16) | a;
    }
}
