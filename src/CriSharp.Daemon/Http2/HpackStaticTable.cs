using System.Text;

namespace CriSharp.Daemon.Http2;

/// <summary>The HPACK static table (RFC 7541 Appendix A), as raw bytes.</summary>
internal static class HpackStaticTable
{
    public const int Count = 61;

    /// <summary>Entry i (1-based) is at index i - 1.</summary>
    public static readonly (byte[] Name, byte[] Value)[] Entries = Build(
    [
        (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"), (":path", "/index.html"),
        (":scheme", "http"), (":scheme", "https"), (":status", "200"), (":status", "204"), (":status", "206"),
        (":status", "304"), (":status", "400"), (":status", "404"), (":status", "500"), ("accept-charset", ""),
        ("accept-encoding", "gzip, deflate"), ("accept-language", ""), ("accept-ranges", ""), ("accept", ""),
        ("access-control-allow-origin", ""), ("age", ""), ("allow", ""), ("authorization", ""), ("cache-control", ""),
        ("content-disposition", ""), ("content-encoding", ""), ("content-language", ""), ("content-length", ""),
        ("content-location", ""), ("content-range", ""), ("content-type", ""), ("cookie", ""), ("date", ""),
        ("etag", ""), ("expect", ""), ("expires", ""), ("from", ""), ("host", ""), ("if-match", ""),
        ("if-modified-since", ""), ("if-none-match", ""), ("if-range", ""), ("if-unmodified-since", ""),
        ("last-modified", ""), ("link", ""), ("location", ""), ("max-forwards", ""), ("proxy-authenticate", ""),
        ("proxy-authorization", ""), ("range", ""), ("referer", ""), ("refresh", ""), ("retry-after", ""),
        ("server", ""), ("set-cookie", ""), ("strict-transport-security", ""), ("transfer-encoding", ""),
        ("user-agent", ""), ("vary", ""), ("via", ""), ("www-authenticate", ""),
    ]);

    public const int AuthorityIndex = 1;
    public const int HostIndex = 38;

    /// <summary>The lowest static index whose name is <paramref name="name"/>, or 0.</summary>
    public static int FindName(ReadOnlySpan<byte> name)
    {
        // 61 short comparisons per field; cheap next to the rest of the work and allocation-free.
        for (var i = 0; i < Entries.Length; i++)
        {
            if (name.SequenceEqual(Entries[i].Name))
            {
                return i + 1;
            }
        }

        return 0;
    }

    private static (byte[] Name, byte[] Value)[] Build((string Name, string Value)[] entries)
    {
        var result = new (byte[] Name, byte[] Value)[entries.Length];
        for (var i = 0; i < entries.Length; i++)
        {
            result[i] = (Encoding.ASCII.GetBytes(entries[i].Name), Encoding.ASCII.GetBytes(entries[i].Value));
        }

        return result;
    }
}
