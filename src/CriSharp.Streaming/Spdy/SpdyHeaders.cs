using System.Buffers.Binary;
using System.Text;

namespace CriSharp.Streaming.Spdy;

/// <summary>
/// A SPDY name/value header block: lower-case names, each value possibly several joined by NUL.
/// Uncompressed layout: a 32-bit pair count, then per pair a 32-bit length + name and a 32-bit length + value.
/// </summary>
sealed class SpdyHeaders
{
    /// <summary>Generous for a handful of stream headers; a bigger block is a hostile or broken peer.</summary>
    public const int MaxBlockBytes = 256 * 1024;

    readonly List<KeyValuePair<string, string>> _pairs = [];

    public IReadOnlyList<KeyValuePair<string, string>> Pairs => _pairs;

    public SpdyHeaders Add(string name, string value)
    {
        _pairs.Add(new(name.ToLowerInvariant(), value));
        return this;
    }

    /// <summary>The first value of <paramref name="name"/> (case-insensitive), or null.</summary>
    public string? Get(string name)
    {
        foreach (var (n, v) in _pairs)
            if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase))
                return v.Split('\0')[0];
        return null;
    }

    public byte[] Encode()
    {
        var bytes = new List<byte>(64);
        Int(bytes, _pairs.Count);
        foreach (var (name, value) in _pairs)
        {
            String(bytes, name);
            String(bytes, value);
        }
        return [.. bytes];

        static void Int(List<byte> b, int v) => b.AddRange([(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v]);
        static void String(List<byte> b, string s)
        {
            var utf8 = Encoding.UTF8.GetBytes(s);
            Int(b, utf8.Length);
            b.AddRange(utf8);
        }
    }

    public static SpdyHeaders Decode(ReadOnlySpan<byte> block)
    {
        var headers = new SpdyHeaders();
        int pos = 0;
        int count = Int(block, ref pos);
        if (count < 0 || count > block.Length / 8) throw new SpdyProtocolException($"header block claims {count} pairs");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            var name = String(block, ref pos);
            var value = String(block, ref pos);
            if (name.Length == 0) throw new SpdyProtocolException("empty header name");
            if (!seen.Add(name)) throw new SpdyProtocolException($"duplicate header {name}");
            headers._pairs.Add(new(name, value));
        }
        return headers;

        static int Int(ReadOnlySpan<byte> b, ref int pos)
        {
            if (pos + 4 > b.Length) throw new SpdyProtocolException("truncated header block");
            int v = BinaryPrimitives.ReadInt32BigEndian(b[pos..]);
            pos += 4;
            return v;
        }
        static string String(ReadOnlySpan<byte> b, ref int pos)
        {
            int len = Int(b, ref pos);
            if (len < 0 || pos + len > b.Length) throw new SpdyProtocolException("truncated header block");
            var s = Encoding.UTF8.GetString(b.Slice(pos, len));
            pos += len;
            return s;
        }
    }

    public override string ToString() => string.Join(", ", _pairs.Select(p => $"{p.Key}={p.Value.Replace('\0', '|')}"));
}
