using System.Buffers;

namespace CriSharp.Daemon.Http2;

/// <summary>
/// A stateless HPACK encoder: static-table indexes and literals that never add to the dynamic table,
/// never Huffman-coded, so the server's decoder table stays empty and can never disagree with us.
/// </summary>
internal static class HpackEncoder
{
    /// <summary>Indexed header field; only static indexes are ever passed.</summary>
    public static void WriteIndexed(int staticIndex, IBufferWriter<byte> output) => WriteInteger(staticIndex, 7, 0x80, output);

    /// <summary>Dynamic table size update, forwarded so the server still validates it.</summary>
    public static void WriteSizeUpdate(int size, IBufferWriter<byte> output) => WriteInteger(size, 5, 0x20, output);

    /// <summary>
    /// Literal without indexing, or never indexed when the client asked for it (intermediaries must keep
    /// that representation, RFC 7541 section 6.2.3). Uses a static name index when the name has one.
    /// </summary>
    public static void WriteLiteral(ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, bool neverIndexed, IBufferWriter<byte> output)
    {
        var flags = neverIndexed ? (byte)0x10 : (byte)0x00;
        var nameIndex = HpackStaticTable.FindName(name);
        WriteInteger(nameIndex, 4, flags, output);
        if (nameIndex == 0)
        {
            WriteString(name, output);
        }

        WriteString(value, output);
    }

    private static void WriteString(ReadOnlySpan<byte> value, IBufferWriter<byte> output)
    {
        WriteInteger(value.Length, 7, 0x00, output);
        output.Write(value);
    }

    private static void WriteInteger(int value, int prefixBits, byte flags, IBufferWriter<byte> output)
    {
        var span = output.GetSpan(6);
        var mask = (1 << prefixBits) - 1;
        if (value < mask)
        {
            span[0] = (byte)(flags | value);
            output.Advance(1);
            return;
        }

        span[0] = (byte)(flags | mask);
        var written = 1;
        var rest = (uint)(value - mask);
        while (rest >= 0x80)
        {
            span[written++] = (byte)((rest & 0x7F) | 0x80);
            rest >>= 7;
        }

        span[written++] = (byte)rest;
        output.Advance(written);
    }
}
