using System.Buffers;
using System.Globalization;
using System.Text;
using CriSharp.Linux;

namespace CriSharp.Images.Layers;

/// <summary>One tar entry's header, with GNU long-name and PAX records already folded in.</summary>
internal sealed class TarEntryHeader
{
    public const char RegularFile = '0', HardLink = '1', Symlink = '2', CharDevice = '3',
        BlockDevice = '4', Directory = '5', Fifo = '6';

    public required string Name { get; init; }
    /// <summary>One of the constants above; '\0' and '7' (contiguous) arrive as <see cref="RegularFile"/>.</summary>
    public required char Type { get; init; }
    public required int Mode { get; init; }
    public required uint Uid { get; init; }
    public required uint Gid { get; init; }
    public required long Size { get; init; }
    public required UnixTime ModificationTime { get; init; }
    public UnixTime? AccessTime { get; init; }
    public string LinkName { get; init; } = "";
    public uint DevMajor { get; init; }
    public uint DevMinor { get; init; }
    /// <summary>PAX SCHILY.xattr.* records; values are raw bytes (file capabilities are binary).</summary>
    public IReadOnlyList<KeyValuePair<string, byte[]>> Xattrs { get; init; } = [];
}

/// <summary>
/// Reads a tar stream front to back: v7, ustar, GNU (long names, base-256 numbers) and PAX.
/// Our own reader rather than System.Formats.Tar because that decodes PAX values as UTF-8,
/// which corrupts binary xattrs such as security.capability.
/// </summary>
internal sealed class LayerTarReader(Stream stream)
{
    const int BlockSize = 512;
    // PAX and GNU long-name records are held in memory; real ones are a few hundred bytes.
    const int MaxMetadataBytes = 1 << 20;

    readonly byte[] _block = new byte[BlockSize];
    long _pendingBytes; // data and padding of the current entry not yet consumed
    long _dataRemaining; // of which entry data

    /// <summary>The next entry, or null at the end-of-archive marker (or a clean end of stream).</summary>
    public async ValueTask<TarEntryHeader?> NextAsync(CancellationToken ct)
    {
        await SkipAsync(_pendingBytes, ct);
        _pendingBytes = _dataRemaining = 0;

        Dictionary<string, byte[]>? pax = null;
        string? longName = null, longLink = null;
        while (true)
        {
            if (!await ReadBlockAsync(ct, allowEnd: pax == null && longName == null && longLink == null))
                return null;
            if (_block.AsSpan().IndexOfAnyExcept((byte)0) < 0)
                return null; // end-of-archive marker; the caller drains the rest
            VerifyChecksum();

            var type = (char)_block[156];
            var fieldName = Field(0, 100);
            var size = ParseNumber(_block.AsSpan(124, 12), "size", fieldName);
            if (size < 0) throw new InvalidDataException($"tar entry '{fieldName}' has a negative size");
            switch (type)
            {
                case 'x':
                    pax ??= new(StringComparer.Ordinal);
                    ParsePax(await ReadMetadataAsync(size, fieldName, ct), pax, fieldName);
                    continue;
                case 'g':
                    // Global headers (e.g. git archive's comment) carry nothing a layer needs.
                    await ReadMetadataAsync(size, fieldName, ct);
                    continue;
                case 'L':
                    longName = DecodeLongName(await ReadMetadataAsync(size, fieldName, ct));
                    continue;
                case 'K':
                    longLink = DecodeLongName(await ReadMetadataAsync(size, fieldName, ct));
                    continue;
            }

            var header = BuildHeader(type, size, fieldName, longName, longLink, pax);
            _dataRemaining = header.Type == TarEntryHeader.RegularFile ? header.Size : 0;
            _pendingBytes = Padded(_dataRemaining);
            return header;
        }
    }

    /// <summary>Copies the current entry's data to <paramref name="destination"/>.</summary>
    public async ValueTask CopyDataAsync(Stream destination, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 17);
        try
        {
            while (_dataRemaining > 0)
            {
                var wanted = (int)Math.Min(buffer.Length, _dataRemaining);
                var read = await stream.ReadAtLeastAsync(buffer.AsMemory(0, wanted), wanted, throwOnEndOfStream: false, ct);
                if (read < wanted) throw new EndOfStreamException("tar stream ends inside an entry's data");
                await destination.WriteAsync(buffer.AsMemory(0, read), ct);
                _dataRemaining -= read;
                _pendingBytes -= read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Reads everything after the end-of-archive marker, so a digest over the stream covers it all.</summary>
    public async ValueTask DrainAsync(CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            while (await stream.ReadAsync(buffer, ct) > 0) { }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The header fields PAX records can override, and the device numbers, while a header is built.</summary>
    sealed class HeaderFields
    {
        public required string Name;
        public required long Size;
        public required long Uid;
        public required long Gid;
        public required UnixTime ModificationTime;
        public UnixTime? AccessTime;
        public required string LinkName;
        public long DevMajor, DevMinor;
    }

    /// <summary>The entry in <see cref="_block"/>, with a preceding GNU long name or link and PAX records applied.</summary>
    TarEntryHeader BuildHeader(char type, long size, string fieldName, string? longName, string? longLink,
        Dictionary<string, byte[]>? pax)
    {
        var magic = _block.AsSpan(257, 8);
        var isUstar = magic.StartsWith("ustar\0"u8);
        var isGnu = magic.SequenceEqual("ustar  \0"u8);
        var name = longName ?? (isUstar && _block[345] != 0 ? Field(345, 155) + "/" + fieldName : fieldName);
        var entryType = NormalizedType(type, name);
        var fields = ReadFields(name, size, longLink, hasDeviceNumbers: isUstar || isGnu);
        var xattrs = ApplyPax(pax, fields);

        // v7 tars mark a directory by a trailing slash on an old-style ('\0') regular entry.
        if (type == '\0' && fields.Name.EndsWith('/')) entryType = TarEntryHeader.Directory;
        CheckRanges(fields);

        return new TarEntryHeader
        {
            Name = fields.Name,
            Type = entryType,
            Mode = (int)(ParseNumber(_block.AsSpan(100, 8), "mode", fields.Name) & 0xFFF),
            Uid = (uint)fields.Uid,
            Gid = (uint)fields.Gid,
            Size = fields.Size,
            ModificationTime = fields.ModificationTime,
            AccessTime = fields.AccessTime,
            LinkName = fields.LinkName,
            DevMajor = (uint)fields.DevMajor,
            DevMinor = (uint)fields.DevMinor,
            Xattrs = xattrs,
        };
    }

    /// <summary>The numeric fields and link name of the header block (v7 tars have no device numbers).</summary>
    HeaderFields ReadFields(string name, long size, string? longLink, bool hasDeviceNumbers)
    {
        var fields = new HeaderFields
        {
            Name = name,
            Size = size,
            Uid = ParseNumber(_block.AsSpan(108, 8), "uid", name),
            Gid = ParseNumber(_block.AsSpan(116, 8), "gid", name),
            ModificationTime = new UnixTime(ParseNumber(_block.AsSpan(136, 12), "mtime", name), 0),
            LinkName = longLink ?? Field(157, 100),
        };
        if (hasDeviceNumbers)
        {
            fields.DevMajor = ParseNumber(_block.AsSpan(329, 8), "devmajor", name);
            fields.DevMinor = ParseNumber(_block.AsSpan(337, 8), "devminor", name);
        }
        return fields;
    }

    /// <summary>The entry type as <see cref="TarEntryHeader.Type"/> has it; types a layer cannot hold are refused.</summary>
    static char NormalizedType(char type, string name) => type switch
    {
        '\0' or '7' => TarEntryHeader.RegularFile,
        TarEntryHeader.RegularFile or TarEntryHeader.HardLink or TarEntryHeader.Symlink or TarEntryHeader.CharDevice
            or TarEntryHeader.BlockDevice or TarEntryHeader.Directory or TarEntryHeader.Fifo => type,
        _ => throw new NotSupportedException($"tar entry '{name}' has unsupported type '{type}'"),
    };

    /// <summary>Applies the entry's PAX records (if any) over its fields, in the records' order; returns the xattrs they carry.</summary>
    static List<KeyValuePair<string, byte[]>> ApplyPax(Dictionary<string, byte[]>? pax, HeaderFields fields)
    {
        var xattrs = new List<KeyValuePair<string, byte[]>>();
        if (pax == null) return xattrs;
        foreach (var (key, value) in pax)
        {
            if (key.StartsWith("SCHILY.xattr.", StringComparison.Ordinal))
            {
                xattrs.Add(new(key["SCHILY.xattr.".Length..], value));
                continue;
            }
            if (key.StartsWith("GNU.sparse.", StringComparison.Ordinal))
                throw new NotSupportedException($"tar entry '{fields.Name}' is a sparse file");
            if (value.Length == 0) continue; // an empty PAX value only unsets a keyword
            switch (key)
            {
                case "path": fields.Name = Utf8(value); break;
                case "linkpath": fields.LinkName = Utf8(value); break;
                case "size": fields.Size = ParsePaxInteger(value, key, fields.Name); break;
                case "uid": fields.Uid = ParsePaxInteger(value, key, fields.Name); break;
                case "gid": fields.Gid = ParsePaxInteger(value, key, fields.Name); break;
                case "mtime": fields.ModificationTime = ParsePaxTime(value, key, fields.Name); break;
                case "atime": fields.AccessTime = ParsePaxTime(value, key, fields.Name); break;
            }
        }
        return xattrs;
    }

    static void CheckRanges(HeaderFields fields)
    {
        if (fields.Uid is < 0 or > uint.MaxValue || fields.Gid is < 0 or > uint.MaxValue)
            throw new InvalidDataException($"tar entry '{fields.Name}' has an out-of-range uid/gid");
        if (fields.DevMajor is < 0 or > uint.MaxValue || fields.DevMinor is < 0 or > uint.MaxValue)
            throw new InvalidDataException($"tar entry '{fields.Name}' has an out-of-range device number");
        if (fields.Size < 0) throw new InvalidDataException($"tar entry '{fields.Name}' has a negative size");
    }

    async ValueTask<bool> ReadBlockAsync(CancellationToken ct, bool allowEnd)
    {
        var read = await stream.ReadAtLeastAsync(_block, BlockSize, throwOnEndOfStream: false, ct);
        if (read == 0 && allowEnd) return false;
        if (read < BlockSize) throw new EndOfStreamException("tar stream ends inside a header");
        return true;
    }

    async ValueTask<byte[]> ReadMetadataAsync(long size, string entry, CancellationToken ct)
    {
        if (size > MaxMetadataBytes)
            throw new HostileLayerException(entry, $"metadata record of {size} bytes (limit {MaxMetadataBytes})");
        var data = new byte[size];
        var read = await stream.ReadAtLeastAsync(data, data.Length, throwOnEndOfStream: false, ct);
        if (read < data.Length) throw new EndOfStreamException("tar stream ends inside a metadata record");
        await SkipAsync(Padded(size) - size, ct);
        return data;
    }

    async ValueTask SkipAsync(long count, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            while (count > 0)
            {
                var wanted = (int)Math.Min(buffer.Length, count);
                var read = await stream.ReadAtLeastAsync(buffer.AsMemory(0, wanted), wanted, throwOnEndOfStream: false, ct);
                if (read < wanted) throw new EndOfStreamException("tar stream ends inside an entry");
                count -= read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    void VerifyChecksum()
    {
        // Historic writers disagree on signed vs unsigned bytes; accept either, as GNU tar and Go do.
        long unsigned = 0, signed = 0;
        for (var i = 0; i < BlockSize; i++)
        {
            var b = i is >= 148 and < 156 ? (byte)' ' : _block[i];
            unsigned += b;
            signed += (sbyte)b;
        }
        var stored = ParseNumber(_block.AsSpan(148, 8), "checksum", Field(0, 100));
        if (stored != unsigned && stored != signed)
            throw new InvalidDataException($"tar header checksum mismatch at entry '{Field(0, 100)}' (not a tar stream?)");
    }

    string Field(int offset, int length)
    {
        var span = _block.AsSpan(offset, length);
        var end = span.IndexOf((byte)0);
        return Utf8(end < 0 ? span : span[..end]);
    }

    static long Padded(long size) => (size + BlockSize - 1) / BlockSize * BlockSize;

    static string Utf8(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    // GNU long names end in NUL; anything after the last non-NUL is padding. An embedded NUL stays, to be refused.
    static string DecodeLongName(byte[] data) => Utf8(data.AsSpan().TrimEnd((byte)0));

    /// <summary>Octal text, or GNU base-256 (high bit set) for values that do not fit.</summary>
    static long ParseNumber(ReadOnlySpan<byte> field, string what, string entry)
    {
        if (field.Length > 0 && (field[0] & 0x80) != 0)
        {
            var invert = (field[0] & 0x40) != 0 ? (byte)0xFF : (byte)0;
            ulong value = 0;
            for (var i = 0; i < field.Length; i++)
            {
                var b = (byte)(field[i] ^ invert);
                if (i == 0) b &= 0x7F;
                if (value >> 56 != 0) throw new InvalidDataException($"tar entry '{entry}': {what} overflows");
                value = value << 8 | b;
            }
            if (value >> 63 != 0) throw new InvalidDataException($"tar entry '{entry}': {what} overflows");
            return invert == 0xFF ? ~(long)value : (long)value;
        }

        field = field.Trim(" \0"u8);
        long result = 0;
        foreach (var b in field)
        {
            if (b is < (byte)'0' or > (byte)'7' || result >> 60 != 0)
                throw new InvalidDataException($"tar entry '{entry}': bad {what} field");
            result = result << 3 | (long)(b - '0');
        }
        return result;
    }

    static long ParsePaxInteger(byte[] value, string key, string entry) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var result)
            ? result
            : throw new InvalidDataException($"tar entry '{entry}': bad PAX {key}");

    /// <summary>PAX times are decimal seconds with an optional fraction, e.g. "1700000000.123456789".</summary>
    static UnixTime ParsePaxTime(byte[] value, string key, string entry)
    {
        var text = Utf8(value);
        var negative = text.StartsWith('-');
        if (negative) text = text[1..];
        var dot = text.IndexOf('.');
        var wholeText = dot < 0 ? text : text[..dot];
        var fraction = dot < 0 ? "" : text[(dot + 1)..];
        if (!long.TryParse(wholeText, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) ||
            fraction.Any(c => !char.IsAsciiDigit(c)))
            throw new InvalidDataException($"tar entry '{entry}': bad PAX {key}");
        var nanos = fraction.Length == 0 ? 0 : int.Parse(fraction.PadRight(9, '0')[..9], CultureInfo.InvariantCulture);
        if (!negative) return new UnixTime(seconds, nanos);
        return nanos == 0 ? new UnixTime(-seconds, 0) : new UnixTime(-seconds - 1, 1_000_000_000 - nanos);
    }

    /// <summary>Records are "LEN key=value\n", LEN counting the whole record; values kept as raw bytes.</summary>
    static void ParsePax(byte[] data, Dictionary<string, byte[]> into, string entry)
    {
        var rest = data.AsSpan();
        while (rest.Length > 0)
        {
            if (rest.IndexOfAnyExcept((byte)0) < 0) break; // NUL padding some writers leave
            var space = rest.IndexOf((byte)' ');
            if (space <= 0 || !int.TryParse(rest[..space], NumberStyles.None, CultureInfo.InvariantCulture, out var length) ||
                length <= space + 1 || length > rest.Length || rest[length - 1] != (byte)'\n')
                throw new InvalidDataException($"tar entry '{entry}': malformed PAX record");
            var record = rest[(space + 1)..(length - 1)];
            var equals = record.IndexOf((byte)'=');
            if (equals <= 0) throw new InvalidDataException($"tar entry '{entry}': malformed PAX record");
            into[Utf8(record[..equals])] = record[(equals + 1)..].ToArray();
            rest = rest[length..];
        }
    }
}
