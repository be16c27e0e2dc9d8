using System.Text;

namespace CriSharp.Conformance.RawHttp2;

/// <summary>The HPACK static table (RFC 7541 Appendix A) for the raw client.</summary>
internal static class RawHpackStatic
{
    public static readonly (string Name, string Value)[] Table =
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
    ];
}

/// <summary>
/// A small HPACK encoder for the raw client. With the dynamic table on it inserts every field it cannot
/// index (literal with incremental indexing) and refers to earlier insertions by index, like real clients.
/// </summary>
internal sealed class RawHpackEncoder(bool huffman, bool useDynamicTable, int tableSize = 4096)
{
    // Index 0 is the newest entry (HPACK index 62).
    private readonly List<(string Name, string Value)> _table = [];
    private int _size;
    private bool _announced;

    /// <summary>The encoder's dynamic table, newest first (for tests).</summary>
    public IReadOnlyList<(string Name, string Value)> DynamicTable => _table;

    public byte[] Encode(IEnumerable<(string Name, string Value)> headers, ISet<string>? neverIndexed = null)
    {
        var output = new List<byte>();
        if (useDynamicTable && !_announced)
        {
            // Exercise the size-update path: shrink to zero, then back to the working size.
            WriteInteger(output, 0x20, 5, 0);
            WriteInteger(output, 0x20, 5, tableSize);
            _announced = true;
        }

        foreach (var (name, value) in headers)
        {
            if (neverIndexed?.Contains(name) == true)
            {
                WriteLiteral(output, 0x10, 4, NameIndex(name), name, value);
                continue;
            }

            var full = FullIndex(name, value);
            if (full > 0)
            {
                WriteInteger(output, 0x80, 7, full);
            }
            else if (useDynamicTable)
            {
                WriteLiteral(output, 0x40, 6, NameIndex(name), name, value);
                Insert(name, value);
            }
            else
            {
                WriteLiteral(output, 0x00, 4, NameIndex(name), name, value);
            }
        }

        return [.. output];
    }

    private int FullIndex(string name, string value)
    {
        for (var i = 0; i < RawHpackStatic.Table.Length; i++)
        {
            if (RawHpackStatic.Table[i].Name == name && RawHpackStatic.Table[i].Value == value)
            {
                return i + 1;
            }
        }

        if (useDynamicTable)
        {
            var at = _table.IndexOf((name, value));
            if (at >= 0)
            {
                return RawHpackStatic.Table.Length + 1 + at;
            }
        }

        return 0;
    }

    private int NameIndex(string name)
    {
        for (var i = 0; i < RawHpackStatic.Table.Length; i++)
        {
            if (RawHpackStatic.Table[i].Name == name)
            {
                return i + 1;
            }
        }

        if (useDynamicTable)
        {
            var at = _table.FindIndex(e => e.Name == name);
            if (at >= 0)
            {
                return RawHpackStatic.Table.Length + 1 + at;
            }
        }

        return 0;
    }

    private void Insert(string name, string value)
    {
        var size = Encoding.Latin1.GetByteCount(name) + Encoding.Latin1.GetByteCount(value) + 32;
        while (_table.Count > 0 && _size + size > tableSize)
        {
            var last = _table[^1];
            _size -= Encoding.Latin1.GetByteCount(last.Name) + Encoding.Latin1.GetByteCount(last.Value) + 32;
            _table.RemoveAt(_table.Count - 1);
        }

        if (size <= tableSize)
        {
            _table.Insert(0, (name, value));
            _size += size;
        }
    }

    private void WriteLiteral(List<byte> output, byte pattern, int prefix, int nameIndex, string name, string value)
    {
        WriteInteger(output, pattern, prefix, nameIndex);
        if (nameIndex == 0)
        {
            WriteString(output, name);
        }

        WriteString(output, value);
    }

    private void WriteString(List<byte> output, string text)
    {
        var bytes = Encoding.Latin1.GetBytes(text);
        if (huffman)
        {
            var coded = RawHuffman.Encode(bytes);
            WriteInteger(output, 0x80, 7, coded.Length);
            output.AddRange(coded);
        }
        else
        {
            WriteInteger(output, 0x00, 7, bytes.Length);
            output.AddRange(bytes);
        }
    }

    internal static void WriteInteger(List<byte> output, byte pattern, int prefix, int value)
    {
        var max = (1 << prefix) - 1;
        if (value < max)
        {
            output.Add((byte)(pattern | value));
            return;
        }

        output.Add((byte)(pattern | max));
        value -= max;
        while (value >= 128)
        {
            output.Add((byte)(0x80 | (value % 128)));
            value /= 128;
        }

        output.Add((byte)value);
    }
}

/// <summary>A small HPACK decoder for the raw client (responses from the server, and tests).</summary>
internal sealed class RawHpackDecoder(int tableSize = 4096)
{
    private readonly List<(string Name, string Value)> _table = [];
    private int _size;
    private int? _max;

    private int Max => _max ?? tableSize;

    /// <summary>The decoder's dynamic table, newest first (for tests).</summary>
    public IReadOnlyList<(string Name, string Value)> DynamicTable => _table;

    /// <summary>The decoder's dynamic table size in HPACK octets.</summary>
    public int Size => _size;

    /// <summary>Decodes a block; header bytes are read as Latin-1 so any octet survives the round trip.</summary>
    public List<(string Name, string Value)> Decode(ReadOnlySpan<byte> block)
    {
        var result = new List<(string, string)>();
        var p = 0;
        while (p < block.Length)
        {
            var b = block[p];
            if ((b & 0x80) != 0)
            {
                result.Add(Lookup(ReadInteger(block, ref p, 7)));
            }
            else if ((b & 0xC0) == 0x40)
            {
                var field = ReadLiteral(block, ref p, 6);
                result.Add(field);
                Add(field);
            }
            else if ((b & 0xE0) == 0x20)
            {
                var size = ReadInteger(block, ref p, 5);
                if (size > tableSize)
                {
                    throw new InvalidDataException("table size update above limit");
                }

                _max = size;
                Shrink(size);
            }
            else
            {
                result.Add(ReadLiteral(block, ref p, 4));
            }
        }

        return result;
    }

    private (string, string) ReadLiteral(ReadOnlySpan<byte> block, ref int p, int prefix)
    {
        var index = ReadInteger(block, ref p, prefix);
        var name = index == 0 ? ReadString(block, ref p) : Lookup(index).Name;
        return (name, ReadString(block, ref p));
    }

    private (string Name, string Value) Lookup(int index)
    {
        if (index >= 1 && index <= RawHpackStatic.Table.Length)
        {
            return RawHpackStatic.Table[index - 1];
        }

        var at = index - RawHpackStatic.Table.Length - 1;
        if (index < 1 || at >= _table.Count)
        {
            throw new InvalidDataException($"HPACK index {index} out of range");
        }

        return _table[at];
    }

    private void Add((string Name, string Value) field)
    {
        var size = field.Name.Length + field.Value.Length + 32;
        Shrink(Max - size);
        if (size <= Max)
        {
            _table.Insert(0, field);
            _size += size;
        }
        else
        {
            _table.Clear();
            _size = 0;
        }
    }

    private void Shrink(int target)
    {
        while (_table.Count > 0 && _size > target)
        {
            var last = _table[^1];
            _size -= last.Name.Length + last.Value.Length + 32;
            _table.RemoveAt(_table.Count - 1);
        }
    }

    private static string ReadString(ReadOnlySpan<byte> block, ref int p)
    {
        if (p >= block.Length)
        {
            throw new InvalidDataException("string past end of block");
        }

        var huffman = (block[p] & 0x80) != 0;
        var length = ReadInteger(block, ref p, 7);
        if (length > block.Length - p)
        {
            throw new InvalidDataException("string past end of block");
        }

        var raw = block.Slice(p, length);
        p += length;
        return Encoding.Latin1.GetString(huffman ? RawHuffman.Decode(raw) : raw);
    }

    private static int ReadInteger(ReadOnlySpan<byte> block, ref int p, int prefix)
    {
        var max = (1 << prefix) - 1;
        if (p >= block.Length)
        {
            throw new InvalidDataException("integer past end of block");
        }

        var value = block[p++] & max;
        if (value < max)
        {
            return value;
        }

        var shift = 0;
        while (true)
        {
            if (p >= block.Length)
            {
                throw new InvalidDataException("integer past end of block");
            }

            var b = block[p++];
            value += (b & 0x7F) << shift;
            shift += 7;
            if ((b & 0x80) == 0)
            {
                return value;
            }

            if (shift > 28)
            {
                throw new InvalidDataException("HPACK integer too long");
            }
        }
    }
}
