namespace CriSharp.Streaming.Spdy;

/// <summary>
/// Decompresses the header blocks one peer sends: a single zlib stream for the whole connection (RFC 1950/1951),
/// its window preloaded with the SPDY dictionary, cut into one sync-flushed piece per frame.
/// .NET's zlib wrapper cannot take a preset dictionary, hence our own inflater.
/// </summary>
sealed class HeaderBlockInflater
{
    const int WindowSize = 1 << 15;
    const int MaxBits = 15;

    // Length and distance symbol tables of RFC 1951 section 3.2.5.
    static readonly ushort[] LengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
    static readonly byte[] LengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
    static readonly ushort[] DistanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
    static readonly byte[] DistanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
    static readonly byte[] CodeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
    static readonly Huffman FixedLiterals;
    static readonly Huffman FixedDistances;

    static HeaderBlockInflater()
    {
        var lengths = new byte[288];
        for (int i = 0; i < 288; i++) lengths[i] = (byte)(i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8);
        FixedLiterals = new Huffman(lengths);
        FixedDistances = new Huffman(Enumerable.Repeat((byte)5, 30).ToArray());
    }

    readonly byte[] _window = new byte[WindowSize];
    int _windowPos;
    int _windowFill;
    bool _headerSeen;
    bool _finished;
    // Bits left over from the previous piece (none after a sync flush, which ends on a byte boundary).
    uint _carryBits;
    int _carryCount;

    public HeaderBlockInflater()
    {
        foreach (var b in SpdyDictionary.Bytes) Remember(b);
    }

    /// <summary>Inflates one frame's compressed header block; the piece must end on a deflate block boundary.</summary>
    public byte[] Inflate(ReadOnlySpan<byte> piece)
    {
        if (_finished) throw new SpdyProtocolException("header compression stream already ended");
        var input = new BitInput(piece, _carryBits, _carryCount);
        if (!_headerSeen)
        {
            if (piece.Length < 2) throw new SpdyProtocolException("header block too short for a zlib header");
            int cmf = input.Bits(8), flg = input.Bits(8);
            if ((cmf & 0x0F) != 8 || (cmf >> 4) > 7 || ((cmf << 8) | flg) % 31 != 0)
                throw new SpdyProtocolException("header block is not a zlib stream");
            if ((flg & 0x20) != 0)
            {
                uint dictId = (uint)(input.Bits(8) << 24 | input.Bits(8) << 16 | input.Bits(8) << 8 | input.Bits(8));
                if (dictId != SpdyDictionary.Id)
                    throw new SpdyProtocolException($"header block uses dictionary {dictId:x8}, not the SPDY/3 dictionary");
            }
            _headerSeen = true;
        }

        var output = new List<byte>(piece.Length * 4);
        while (!input.AtEnd)
        {
            bool last = input.Bits(1) == 1;
            switch (input.Bits(2))
            {
                case 0: Stored(ref input, output); break;
                case 1: Codes(ref input, output, FixedLiterals, FixedDistances); break;
                case 2: Dynamic(ref input, output); break;
                default: throw new SpdyProtocolException("invalid deflate block type");
            }
            if (last)
            {
                _finished = true;
                break;
            }
        }
        (_carryBits, _carryCount) = input.Leftover();
        return [.. output];
    }

    void Remember(byte b)
    {
        _window[_windowPos] = b;
        _windowPos = (_windowPos + 1) & (WindowSize - 1);
        if (_windowFill < WindowSize) _windowFill++;
    }

    void Emit(List<byte> output, byte b)
    {
        output.Add(b);
        Remember(b);
    }

    void Stored(ref BitInput input, List<byte> output)
    {
        input.AlignToByte();
        int len = input.Bits(16), nlen = input.Bits(16);
        if ((len ^ 0xFFFF) != nlen) throw new SpdyProtocolException("corrupt stored block length");
        for (int i = 0; i < len; i++) Emit(output, (byte)input.Bits(8));
    }

    void Codes(ref BitInput input, List<byte> output, Huffman literals, Huffman distances)
    {
        while (true)
        {
            int symbol = literals.Decode(ref input);
            if (symbol < 256)
            {
                Emit(output, (byte)symbol);
                continue;
            }
            if (symbol == 256) return;
            symbol -= 257;
            if (symbol >= 29) throw new SpdyProtocolException("invalid length symbol");
            int length = LengthBase[symbol] + input.Bits(LengthExtra[symbol]);
            int dsym = distances.Decode(ref input);
            if (dsym >= 30) throw new SpdyProtocolException("invalid distance symbol");
            int distance = DistanceBase[dsym] + input.Bits(DistanceExtra[dsym]);
            if (distance > _windowFill) throw new SpdyProtocolException("distance reaches before the dictionary");
            for (int i = 0; i < length; i++)
                Emit(output, _window[(_windowPos - distance) & (WindowSize - 1)]);
        }
    }

    void Dynamic(ref BitInput input, List<byte> output)
    {
        int nlen = input.Bits(5) + 257, ndist = input.Bits(5) + 1, ncode = input.Bits(4) + 4;
        if (nlen > 286 || ndist > 30) throw new SpdyProtocolException("too many deflate codes");
        var lengths = new byte[19];
        for (int i = 0; i < ncode; i++) lengths[CodeLengthOrder[i]] = (byte)input.Bits(3);
        var codeLengths = new Huffman(lengths);

        var all = new byte[nlen + ndist];
        for (int i = 0; i < all.Length;)
        {
            int symbol = codeLengths.Decode(ref input);
            if (symbol < 16)
            {
                all[i++] = (byte)symbol;
                continue;
            }
            byte value = 0;
            int repeat;
            if (symbol == 16)
            {
                if (i == 0) throw new SpdyProtocolException("repeat with no previous length");
                value = all[i - 1];
                repeat = 3 + input.Bits(2);
            }
            else repeat = symbol == 17 ? 3 + input.Bits(3) : 11 + input.Bits(7);
            if (i + repeat > all.Length) throw new SpdyProtocolException("too many code lengths");
            while (repeat-- > 0) all[i++] = value;
        }
        if (all[256] == 0) throw new SpdyProtocolException("no end-of-block code");
        Codes(ref input, output, new Huffman(all.AsSpan(0, nlen)), new Huffman(all.AsSpan(nlen)));
    }

    /// <summary>A canonical Huffman code as counts per length and symbols in code order (decoded a bit at a time).</summary>
    sealed class Huffman
    {
        readonly short[] _count = new short[MaxBits + 1];
        readonly short[] _symbol;

        public Huffman(ReadOnlySpan<byte> lengths)
        {
            _symbol = new short[lengths.Length];
            foreach (var l in lengths) _count[l]++;
            int left = 1;
            for (int len = 1; len <= MaxBits; len++)
            {
                left = (left << 1) - _count[len];
                if (left < 0) throw new SpdyProtocolException("over-subscribed deflate code");
            }
            var offsets = new short[MaxBits + 2];
            for (int len = 1; len <= MaxBits; len++) offsets[len + 1] = (short)(offsets[len] + _count[len]);
            for (short s = 0; s < lengths.Length; s++)
                if (lengths[s] != 0) _symbol[offsets[lengths[s]]++] = s;
        }

        public int Decode(ref BitInput input)
        {
            int code = 0, first = 0, index = 0;
            for (int len = 1; len <= MaxBits; len++)
            {
                code |= input.Bits(1);
                int count = _count[len];
                if (code - count < first) return _symbol[index + (code - first)];
                index += count;
                first = (first + count) << 1;
                code <<= 1;
            }
            throw new SpdyProtocolException("invalid deflate code");
        }
    }

    /// <summary>Reads bits least-significant first, as deflate packs them.</summary>
    ref struct BitInput(ReadOnlySpan<byte> data, uint bits, int count)
    {
        readonly ReadOnlySpan<byte> _data = data;
        int _pos;
        uint _bits = bits;
        int _count = count;

        /// <summary>True when only padding (fewer than 8 bits) is left.</summary>
        public readonly bool AtEnd => _pos >= _data.Length && _count < 8;

        public int Bits(int n)
        {
            while (_count < n)
            {
                if (_pos >= _data.Length) throw new SpdyProtocolException("header block ends inside a deflate block");
                _bits |= (uint)_data[_pos++] << _count;
                _count += 8;
            }
            int value = (int)(_bits & ((1u << n) - 1));
            _bits >>= n;
            _count -= n;
            return value;
        }

        public void AlignToByte()
        {
            int drop = _count & 7;
            _bits >>= drop;
            _count -= drop;
        }

        public readonly (uint Bits, int Count) Leftover() => (_bits, _count);
    }
}
