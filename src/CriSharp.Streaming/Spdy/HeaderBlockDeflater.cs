namespace CriSharp.Streaming.Spdy;

/// <summary>
/// Compresses the header blocks this side sends: one zlib stream per connection whose window starts with the
/// SPDY dictionary, each block LZ77-matched against everything sent before (dictionary included), coded with
/// deflate's fixed Huffman table and ended with a sync flush so the peer can decode it as soon as it arrives.
/// </summary>
sealed class HeaderBlockDeflater
{
    const int WindowSize = 1 << 15;
    const int MinMatch = 3;
    const int MaxMatch = 258;
    const int MaxChain = 256;

    static readonly ushort[] LengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
    static readonly byte[] LengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
    static readonly ushort[] DistanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
    static readonly byte[] DistanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];

    /// <summary>The last 32 KiB of everything compressed so far: what back-references may reach.</summary>
    byte[] _history = [.. SpdyDictionary.Bytes];
    bool _headerWritten;

    public byte[] Deflate(ReadOnlySpan<byte> block)
    {
        var output = new BitOutput();
        if (!_headerWritten)
        {
            // CMF: deflate with a 32 KiB window; FLG: FDICT set, FCHECK making CMF*256+FLG a multiple of 31.
            const int Cmf = 0x78;
            int flg = 0x20;
            flg += 31 - ((Cmf << 8) | flg) % 31;
            output.Bytes([Cmf, (byte)flg]);
            uint id = SpdyDictionary.Id;
            output.Bytes([(byte)(id >> 24), (byte)(id >> 16), (byte)(id >> 8), (byte)id]);
            _headerWritten = true;
        }

        var data = new byte[_history.Length + block.Length];
        _history.CopyTo(data, 0);
        block.CopyTo(data.AsSpan(_history.Length));
        int start = _history.Length;

        output.Bits(0, 1); // not the final block: the stream lasts as long as the connection
        output.Bits(1, 2); // fixed Huffman codes
        var head = new int[1 << 15];
        Array.Fill(head, -1);
        var prev = new int[data.Length];
        for (int i = 0; i < start; i++) Insert(data, i, head, prev);

        for (int i = start; i < data.Length;)
        {
            var (length, distance) = LongestMatch(data, i, head, prev);
            if (length >= MinMatch)
            {
                WriteLength(output, length);
                WriteDistance(output, distance);
                for (int k = 0; k < length; k++) Insert(data, i + k, head, prev);
                i += length;
            }
            else
            {
                WriteLiteralOrLength(output, data[i]);
                Insert(data, i, head, prev);
                i++;
            }
        }
        WriteLiteralOrLength(output, 256); // end of block
        // Sync flush: an empty stored block brings the stream to a byte boundary the peer can stop at.
        output.Bits(0, 3);
        output.AlignToByte();
        output.Bytes([0x00, 0x00, 0xFF, 0xFF]);

        _history = data.Length <= WindowSize ? data : data[^WindowSize..];
        return output.ToArray();
    }

    static int Hash(byte[] data, int i) => ((data[i] << 10) ^ (data[i + 1] << 5) ^ data[i + 2]) & ((1 << 15) - 1);

    static void Insert(byte[] data, int i, int[] head, int[] prev)
    {
        if (i + MinMatch > data.Length) return;
        int h = Hash(data, i);
        prev[i] = head[h];
        head[h] = i;
    }

    static (int Length, int Distance) LongestMatch(byte[] data, int i, int[] head, int[] prev)
    {
        if (i + MinMatch > data.Length) return (0, 0);
        int best = 0, bestDistance = 0, max = Math.Min(MaxMatch, data.Length - i);
        int candidate = head[Hash(data, i)];
        for (int chain = 0; candidate >= 0 && chain < MaxChain; chain++, candidate = prev[candidate])
        {
            int distance = i - candidate;
            if (distance > WindowSize) break;
            int len = 0;
            while (len < max && data[candidate + len] == data[i + len]) len++;
            if (len > best)
            {
                best = len;
                bestDistance = distance;
                if (len == max) break;
            }
        }
        return (best, bestDistance);
    }

    static void WriteLength(BitOutput output, int length)
    {
        int index = LengthBase.Length - 1;
        while (LengthBase[index] > length) index--;
        WriteLiteralOrLength(output, 257 + index);
        output.Bits(length - LengthBase[index], LengthExtra[index]);
    }

    static void WriteDistance(BitOutput output, int distance)
    {
        int index = DistanceBase.Length - 1;
        while (DistanceBase[index] > distance) index--;
        output.Code(index, 5);
        output.Bits(distance - DistanceBase[index], DistanceExtra[index]);
    }

    /// <summary>The fixed literal/length code of RFC 1951 section 3.2.6.</summary>
    static void WriteLiteralOrLength(BitOutput output, int symbol)
    {
        if (symbol < 144) output.Code(0x30 + symbol, 8);
        else if (symbol < 256) output.Code(0x190 + symbol - 144, 9);
        else if (symbol < 280) output.Code(symbol - 256, 7);
        else output.Code(0xC0 + symbol - 280, 8);
    }

    /// <summary>Packs bits least-significant first; Huffman codes go most-significant bit first.</summary>
    sealed class BitOutput
    {
        readonly List<byte> _bytes = [];
        uint _bits;
        int _count;

        public void Bits(int value, int n)
        {
            _bits |= (uint)value << _count;
            _count += n;
            while (_count >= 8)
            {
                _bytes.Add((byte)_bits);
                _bits >>= 8;
                _count -= 8;
            }
        }

        public void Code(int code, int length)
        {
            int reversed = 0;
            for (int i = 0; i < length; i++) reversed |= ((code >> i) & 1) << (length - 1 - i);
            Bits(reversed, length);
        }

        public void AlignToByte()
        {
            if (_count > 0) Bits(0, 8 - _count);
        }

        public void Bytes(ReadOnlySpan<byte> bytes)
        {
            AlignToByte();
            _bytes.AddRange(bytes);
        }

        public byte[] ToArray() => [.. _bytes];
    }
}
