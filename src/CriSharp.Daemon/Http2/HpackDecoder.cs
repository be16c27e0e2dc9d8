namespace CriSharp.Daemon.Http2;

/// <summary>One decoded header field, with what a re-encoder needs to keep its meaning.</summary>
internal readonly record struct HpackHeaderField(byte[] Name, byte[] Value, bool NeverIndexed, int StaticIndex)
{
    /// <summary>Total size as HPACK counts it (RFC 7541 section 4.1).</summary>
    public int Size => Name.Length + Value.Length + HpackDecoder.EntryOverhead;
}

/// <summary>
/// A full HPACK decoder (RFC 7541) that mirrors the peer encoder's dynamic table, so every header
/// block of a connection can be decoded in order.
/// </summary>
internal sealed class HpackDecoder
{
    public const int EntryOverhead = 32;

    private readonly int _maxTableSizeLimit;
    private readonly int _maxHeaderListSize;

    // Ring buffer, newest entry at _newest; capacity is the most entries the limit can hold.
    private readonly (byte[] Name, byte[] Value)[] _entries;
    private int _newest = -1;
    private int _count;
    private byte[] _huffmanScratch = new byte[256];

    /// <param name="maxTableSizeLimit">The SETTINGS_HEADER_TABLE_SIZE the server advertised; also the initial size.</param>
    /// <param name="maxHeaderListSize">Decoded-size budget per block (name + value + 32 per field).</param>
    public HpackDecoder(int maxTableSizeLimit, int maxHeaderListSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxTableSizeLimit);
        _maxTableSizeLimit = maxTableSizeLimit;
        _maxHeaderListSize = maxHeaderListSize;
        MaxTableSize = maxTableSizeLimit;
        _entries = new (byte[], byte[])[(maxTableSizeLimit / EntryOverhead) + 1];
    }

    /// <summary>The current maximum size, as last set by a dynamic table size update.</summary>
    public int MaxTableSize { get; private set; }

    /// <summary>The current size of the dynamic table.</summary>
    public int TableSize { get; private set; }

    /// <summary>The number of dynamic table entries.</summary>
    public int TableCount => _count;

    /// <summary>Dynamic table entry by HPACK index (62 = newest), for tests and diagnostics.</summary>
    public (byte[] Name, byte[] Value) GetDynamic(int index)
    {
        var relative = index - HpackStaticTable.Count - 1;
        if ((uint)relative >= (uint)_count)
        {
            throw new ArgumentOutOfRangeException(nameof(index));
        }

        return _entries[Slot(relative)];
    }

    /// <summary>
    /// Decodes one complete header block. Appends the fields to <paramref name="fields"/> and the dynamic
    /// table size updates (which must lead the block) to <paramref name="sizeUpdates"/>. Returns false with a
    /// reason on any encoding error; the table may then be partly updated and the decoder must not be reused.
    /// </summary>
    public bool TryDecode(ReadOnlySpan<byte> block, List<HpackHeaderField> fields, List<int> sizeUpdates, out string? error)
    {
        var position = 0;
        var listSize = 0;
        var sawField = false;
        while (position < block.Length)
        {
            var first = block[position];
            HpackHeaderField field;
            if ((first & 0x80) != 0)
            {
                if (!TryReadIndexed(block, ref position, out field))
                {
                    error = "bad indexed header field";
                    return false;
                }
            }
            else if ((first & 0xE0) == 0x20)
            {
                // Dynamic table size update: only before the first field (RFC 7541 section 4.2).
                if (sawField || !TryApplySizeUpdate(block, ref position, out var size))
                {
                    error = "bad dynamic table size update";
                    return false;
                }

                sizeUpdates.Add(size);
                continue;
            }
            else if (!TryReadLiteral(block, ref position, first, out field, out error))
            {
                return false;
            }

            sawField = true;
            listSize += field.Size;
            if (listSize > _maxHeaderListSize)
            {
                // Bounds memory against index amplification; the server would refuse such a block anyway.
                error = "header list too large";
                return false;
            }

            fields.Add(field);
        }

        error = null;
        return true;
    }

    /// <summary>An indexed header field (RFC 7541 section 6.1); its static index is kept so it can be re-encoded as one.</summary>
    private bool TryReadIndexed(ReadOnlySpan<byte> block, ref int position, out HpackHeaderField field)
    {
        if (!TryReadInteger(block, ref position, 7, out var index) || !TryGetEntry(index, out var entry))
        {
            field = default;
            return false;
        }

        field = new HpackHeaderField(entry.Name, entry.Value, false, index <= HpackStaticTable.Count ? index : 0);
        return true;
    }

    /// <summary>A dynamic table size update (RFC 7541 section 6.3): sets the new maximum and evicts down to it.</summary>
    private bool TryApplySizeUpdate(ReadOnlySpan<byte> block, ref int position, out int size)
    {
        if (!TryReadInteger(block, ref position, 5, out size) || size > _maxTableSizeLimit)
        {
            return false;
        }

        MaxTableSize = size;
        Evict(size);
        return true;
    }

    /// <summary>
    /// A literal header field (RFC 7541 section 6.2) with incremental indexing, without indexing or never indexed,
    /// told apart by <paramref name="first"/>; one with incremental indexing is added to the dynamic table.
    /// </summary>
    private bool TryReadLiteral(ReadOnlySpan<byte> block, ref int position, byte first, out HpackHeaderField field, out string? error)
    {
        field = default;
        var incremental = (first & 0xC0) == 0x40;
        var neverIndexed = !incremental && (first & 0xF0) == 0x10;
        if (!TryReadInteger(block, ref position, incremental ? 6 : 4, out var nameIndex))
        {
            error = "truncated literal header field";
            return false;
        }

        if (!TryReadLiteralName(block, ref position, nameIndex, out var name, out error))
        {
            return false;
        }

        if (!TryReadString(block, ref position, out var value))
        {
            error = "bad literal header value";
            return false;
        }

        field = new HpackHeaderField(name!, value!, neverIndexed, 0);
        if (incremental)
        {
            Insert(field.Name, field.Value);
        }

        error = null;
        return true;
    }

    /// <summary>A literal field's name: a string of its own when <paramref name="nameIndex"/> is 0, else a table entry's name.</summary>
    private bool TryReadLiteralName(ReadOnlySpan<byte> block, ref int position, int nameIndex, out byte[]? name, out string? error)
    {
        if (nameIndex != 0)
        {
            var found = TryGetEntry(nameIndex, out var entry);
            name = entry.Name;
            error = found ? null : "bad header name index";
            return found;
        }

        var read = TryReadString(block, ref position, out name);
        error = read ? null : "bad literal header name";
        return read;
    }

    private int Slot(int relative) => ((_newest - relative) % _entries.Length + _entries.Length) % _entries.Length;

    private bool TryGetEntry(int index, out (byte[] Name, byte[] Value) entry)
    {
        if (index >= 1 && index <= HpackStaticTable.Count)
        {
            entry = HpackStaticTable.Entries[index - 1];
            return true;
        }

        var relative = index - HpackStaticTable.Count - 1;
        if (index > HpackStaticTable.Count && relative < _count)
        {
            entry = _entries[Slot(relative)];
            return true;
        }

        entry = default;
        return false;
    }

    private void Insert(byte[] name, byte[] value)
    {
        var size = name.Length + value.Length + EntryOverhead;
        if (size > MaxTableSize)
        {
            // An entry larger than the table empties it and is not added (RFC 7541 section 4.4).
            Evict(0);
            return;
        }

        Evict(MaxTableSize - size);
        _newest = (_newest + 1) % _entries.Length;
        _entries[_newest] = (name, value);
        _count++;
        TableSize += size;
    }

    private void Evict(int targetSize)
    {
        while (TableSize > targetSize && _count > 0)
        {
            var oldest = Slot(_count - 1);
            var (name, value) = _entries[oldest];
            TableSize -= name.Length + value.Length + EntryOverhead;
            _entries[oldest] = default;
            _count--;
        }
    }

    private static bool TryReadInteger(ReadOnlySpan<byte> block, ref int position, int prefixBits, out int value)
    {
        value = 0;
        if (position >= block.Length)
        {
            return false;
        }

        var mask = (1 << prefixBits) - 1;
        long result = block[position++] & mask;
        if (result < mask)
        {
            value = (int)result;
            return true;
        }

        for (var shift = 0; shift <= 28; shift += 7)
        {
            if (position >= block.Length)
            {
                return false;
            }

            var b = block[position++];
            result += (long)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                if (result > int.MaxValue)
                {
                    return false;
                }

                value = (int)result;
                return true;
            }
        }

        // More continuation bytes than any int needs.
        return false;
    }

    private bool TryReadString(ReadOnlySpan<byte> block, ref int position, out byte[]? value)
    {
        value = null;
        if (position >= block.Length)
        {
            return false;
        }

        var huffman = (block[position] & 0x80) != 0;
        if (!TryReadInteger(block, ref position, 7, out var length) || length > block.Length - position)
        {
            return false;
        }

        var raw = block.Slice(position, length);
        position += length;
        if (!huffman)
        {
            value = raw.ToArray();
            return true;
        }

        var max = HuffmanDecoder.MaxDecodedLength(length);
        if (_huffmanScratch.Length < max)
        {
            _huffmanScratch = new byte[Math.Max(max, _huffmanScratch.Length * 2)];
        }

        var decoded = HuffmanDecoder.Decode(raw, _huffmanScratch);
        if (decoded < 0)
        {
            return false;
        }

        value = _huffmanScratch.AsSpan(0, decoded).ToArray();
        return true;
    }
}
