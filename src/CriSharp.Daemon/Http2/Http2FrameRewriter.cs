using System.Buffers;
using System.Buffers.Binary;

namespace CriSharp.Daemon.Http2;

/// <summary>Server-side HTTP/2 limits the rewriter must respect (what Kestrel advertised and enforces).</summary>
/// <param name="HeaderTableSize">SETTINGS_HEADER_TABLE_SIZE the server advertised (Kestrel default 4096).</param>
/// <param name="MaxFrameSize">SETTINGS_MAX_FRAME_SIZE the server advertised (Kestrel default 16384).</param>
/// <param name="MaxHeaderListSize">Largest decoded header block (HPACK-counted) the rewriter will expand.</param>
internal sealed record Http2RewriterLimits(int HeaderTableSize = 4096, int MaxFrameSize = 16384, int MaxHeaderListSize = 64 * 1024);

/// <summary>
/// A stateful transformer of the client-to-server byte stream of one HTTP/2 connection. It decodes every
/// request header block with its own copy of the client's HPACK state, replaces an <c>:authority</c> (or
/// <c>host</c>) that Kestrel would reject with <c>localhost</c>, and re-encodes the block without Huffman and
/// without touching the server's dynamic table. All other frames pass through byte for byte.
/// </summary>
/// <remarks>
/// On anything it cannot handle (bad HPACK, protocol violations, non-HTTP/2 bytes) it stops rewriting and
/// forwards the rest of the stream untouched, leaving the verdict to Kestrel. It never throws on input.
/// </remarks>
internal sealed class Http2FrameRewriter
{
    /// <summary>The value written in place of an invalid authority.</summary>
    public static ReadOnlySpan<byte> Replacement => "localhost"u8;

    private static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    private const int FrameHeaderLength = 9;
    private const byte TypeHeaders = 0x1;
    private const byte TypeContinuation = 0x9;
    private const byte FlagEndStream = 0x1;
    private const byte FlagEndHeaders = 0x4;
    private const byte FlagPadded = 0x8;
    private const byte FlagPriority = 0x20;
    private const int PriorityLength = 5;

    private enum State
    {
        Preface,
        FrameHeader,
        CopyPayload,
        BufferPayload,
        Passthrough,
    }

    private readonly int _maxFrameSize;
    private readonly int _maxFragmentSize;
    private readonly HpackDecoder _decoder;

    private State _state = State.Preface;
    private int _prefaceMatched;

    private readonly byte[] _frameHeader = new byte[FrameHeaderLength];
    private int _frameHeaderFill;
    private int _payloadRemaining;

    // The HEADERS/CONTINUATION frame being collected.
    private byte[] _payload = [];
    private int _payloadLength;
    private int _payloadFill;
    private byte _frameType;
    private byte _frameFlags;

    // The header block being collected (HEADERS plus CONTINUATIONs), with padding already removed.
    private bool _inBlock;
    private int _blockStreamId;
    private byte _blockFlags;
    private readonly byte[] _priority = new byte[PriorityLength];
    private readonly ArrayBufferWriter<byte> _fragment = new();
    private readonly ArrayBufferWriter<byte> _encoded = new();
    private readonly List<HpackHeaderField> _fields = [];
    private readonly List<int> _sizeUpdates = [];

    /// <summary>Creates a rewriter for one connection.</summary>
    public Http2FrameRewriter(Http2RewriterLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        _maxFrameSize = Math.Max(limits.MaxFrameSize, 16384);
        _decoder = new HpackDecoder(limits.HeaderTableSize, limits.MaxHeaderListSize);

        // Encoded blocks are normally smaller than decoded ones, but Huffman codes of up to 30 bits per
        // byte can make them larger; this only bounds memory, Kestrel enforces the real limits.
        _maxFragmentSize = (int)Math.Min(int.MaxValue / 2, 4L * limits.MaxHeaderListSize);
    }

    /// <summary>How many authority/host values were replaced so far.</summary>
    public int Rewrites { get; private set; }

    /// <summary>How many header blocks were decoded and re-encoded so far.</summary>
    public int BlocksRewritten { get; private set; }

    /// <summary>Why the rewriter stopped and now forwards bytes untouched; null while it is rewriting.</summary>
    public string? PassthroughReason { get; private set; }

    /// <summary>
    /// Consumes <paramref name="input"/> entirely and writes the transformed bytes to <paramref name="output"/>.
    /// Bytes of a partial frame header or header frame are held back until the rest arrives.
    /// </summary>
    public void Process(ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        while (!input.IsEmpty)
        {
            switch (_state)
            {
                case State.Passthrough:
                    output.Write(input);
                    return;

                case State.Preface:
                    {
                        var expected = Preface[_prefaceMatched..];
                        var n = Math.Min(expected.Length, input.Length);
                        if (!input[..n].SequenceEqual(expected[..n]))
                        {
                            // Not HTTP/2 with prior knowledge (e.g. HTTP/1.1 on a shared endpoint): hands off.
                            output.Write(Preface[.._prefaceMatched]);
                            EnterPassthrough("no HTTP/2 connection preface");
                            continue;
                        }

                        _prefaceMatched += n;
                        input = input[n..];
                        if (_prefaceMatched == Preface.Length)
                        {
                            output.Write(Preface);
                            _state = State.FrameHeader;
                        }

                        break;
                    }

                case State.FrameHeader:
                    {
                        var n = Math.Min(FrameHeaderLength - _frameHeaderFill, input.Length);
                        input[..n].CopyTo(_frameHeader.AsSpan(_frameHeaderFill));
                        _frameHeaderFill += n;
                        input = input[n..];
                        if (_frameHeaderFill == FrameHeaderLength)
                        {
                            _frameHeaderFill = 0;
                            OnFrameHeader(output);
                        }

                        break;
                    }

                case State.CopyPayload:
                    {
                        var n = Math.Min(_payloadRemaining, input.Length);
                        output.Write(input[..n]);
                        input = input[n..];
                        _payloadRemaining -= n;
                        if (_payloadRemaining == 0)
                        {
                            _state = State.FrameHeader;
                        }

                        break;
                    }

                case State.BufferPayload:
                    {
                        var n = Math.Min(_payloadLength - _payloadFill, input.Length);
                        input[..n].CopyTo(_payload.AsSpan(_payloadFill));
                        _payloadFill += n;
                        input = input[n..];
                        if (_payloadFill == _payloadLength)
                        {
                            OnHeaderFrame(output);
                        }

                        break;
                    }
            }
        }
    }

    private void OnFrameHeader(IBufferWriter<byte> output)
    {
        var length = (_frameHeader[0] << 16) | (_frameHeader[1] << 8) | _frameHeader[2];
        var type = _frameHeader[3];
        var flags = _frameHeader[4];
        var streamId = (int)(BinaryPrimitives.ReadUInt32BigEndian(_frameHeader.AsSpan(5)) & 0x7FFFFFFF);

        string? violation = null;
        if (_inBlock && (type != TypeContinuation || streamId != _blockStreamId))
        {
            violation = "frame interleaved in a header block";
        }
        else if (type == TypeContinuation && !_inBlock)
        {
            violation = "CONTINUATION without a header block";
        }
        else if (type == TypeHeaders && streamId == 0)
        {
            violation = "HEADERS on stream 0";
        }
        else if ((type == TypeHeaders || type == TypeContinuation) && length > _maxFrameSize)
        {
            violation = "header frame larger than SETTINGS_MAX_FRAME_SIZE";
        }

        if (violation is not null)
        {
            // Kestrel will see the same violation in the untouched bytes and answer it itself.
            GiveUp(violation, output, endHeaders: false);
            output.Write(_frameHeader);
            return;
        }

        if (type != TypeHeaders && type != TypeContinuation)
        {
            output.Write(_frameHeader);
            _payloadRemaining = length;
            _state = length == 0 ? State.FrameHeader : State.CopyPayload;
            return;
        }

        if (_payload.Length < length)
        {
            _payload = new byte[Math.Max(length, Math.Min(_maxFrameSize, Math.Max(1024, _payload.Length * 2)))];
        }

        _frameType = type;
        _frameFlags = flags;
        if (type == TypeHeaders)
        {
            _blockStreamId = streamId;
        }

        _payloadLength = length;
        _payloadFill = 0;
        _state = State.BufferPayload;
        if (length == 0)
        {
            OnHeaderFrame(output);
        }
    }

    private void OnHeaderFrame(IBufferWriter<byte> output)
    {
        _state = State.FrameHeader;
        var payload = _payload.AsSpan(0, _payloadLength);
        ReadOnlySpan<byte> fragment = payload;
        if (_frameType == TypeHeaders)
        {
            var start = 0;
            var padLength = 0;
            if ((_frameFlags & FlagPadded) != 0)
            {
                padLength = payload.Length > 0 ? payload[0] : int.MaxValue;
                start = 1;
            }

            if ((_frameFlags & FlagPriority) != 0 && payload.Length >= start + PriorityLength)
            {
                payload.Slice(start, PriorityLength).CopyTo(_priority);
                start += PriorityLength;
            }
            else if ((_frameFlags & FlagPriority) != 0)
            {
                start = int.MaxValue;
            }

            if (start > payload.Length || padLength > payload.Length - start)
            {
                // Padding or priority does not fit: a PROTOCOL_ERROR / FRAME_SIZE_ERROR for Kestrel to raise.
                EnterPassthrough("malformed HEADERS frame");
                output.Write(_frameHeader);
                output.Write(payload);
                return;
            }

            fragment = payload[start..^padLength];
            _inBlock = true;
            _blockFlags = (byte)(_frameFlags & (FlagEndStream | FlagPriority));
            _fragment.Clear();
        }

        _fragment.Write(fragment);
        var endHeaders = (_frameFlags & FlagEndHeaders) != 0;
        if (_fragment.WrittenCount > _maxFragmentSize)
        {
            GiveUp("header block too large", output, endHeaders);
            return;
        }

        if (endHeaders)
        {
            CompleteBlock(output);
        }
    }

    private void CompleteBlock(IBufferWriter<byte> output)
    {
        _fields.Clear();
        _sizeUpdates.Clear();
        if (!_decoder.TryDecode(_fragment.WrittenSpan, _fields, _sizeUpdates, out var error))
        {
            // The original block goes on unchanged, so Kestrel's decoder reports the same error.
            GiveUp("HPACK: " + error, output, endHeaders: true);
            return;
        }

        _encoded.Clear();
        foreach (var size in _sizeUpdates)
        {
            HpackEncoder.WriteSizeUpdate(size, _encoded);
        }

        foreach (var field in _fields)
        {
            if (field.StaticIndex != 0)
            {
                HpackEncoder.WriteIndexed(field.StaticIndex, _encoded);
                continue;
            }

            ReadOnlySpan<byte> value = field.Value;
            if (IsAuthorityName(field.Name) && !AuthorityValidator.IsValid(value))
            {
                value = Replacement;
                Rewrites++;
            }

            HpackEncoder.WriteLiteral(field.Name, value, field.NeverIndexed, _encoded);
        }

        BlocksRewritten++;
        EmitBlock(_encoded.WrittenSpan, endHeaders: true, output);
        _inBlock = false;
        _fields.Clear();
    }

    // ":authority", and "host" too: HTTP/2 clients should not send it, but if one sends only an invalid
    // host Kestrel rejects the request for it just the same (with :authority present Kestrel ignores host).
    private static bool IsAuthorityName(ReadOnlySpan<byte> name) =>
        name.SequenceEqual(HpackStaticTable.Entries[HpackStaticTable.AuthorityIndex - 1].Name)
        || name.SequenceEqual(HpackStaticTable.Entries[HpackStaticTable.HostIndex - 1].Name);

    /// <summary>Stops rewriting; a header block in progress is flushed as it was received (minus padding).</summary>
    private void GiveUp(string reason, IBufferWriter<byte> output, bool endHeaders)
    {
        if (_inBlock)
        {
            EmitBlock(_fragment.WrittenSpan, endHeaders, output);
            _inBlock = false;
        }

        EnterPassthrough(reason);
    }

    private void EnterPassthrough(string reason)
    {
        _state = State.Passthrough;
        PassthroughReason = reason;
        _fragment.Clear();
        _encoded.Clear();
        _fields.Clear();
        _payload = [];
    }

    /// <summary>Writes a header block as one HEADERS frame and as many CONTINUATION frames as needed.</summary>
    private void EmitBlock(ReadOnlySpan<byte> block, bool endHeaders, IBufferWriter<byte> output)
    {
        var hasPriority = (_blockFlags & FlagPriority) != 0;
        var firstChunk = Math.Min(block.Length, _maxFrameSize - (hasPriority ? PriorityLength : 0));
        var flags = _blockFlags;
        if (firstChunk == block.Length && endHeaders)
        {
            flags |= FlagEndHeaders;
        }

        WriteFrameHeader(firstChunk + (hasPriority ? PriorityLength : 0), TypeHeaders, flags, _blockStreamId, output);
        if (hasPriority)
        {
            output.Write(_priority);
        }

        output.Write(block[..firstChunk]);
        block = block[firstChunk..];
        while (!block.IsEmpty)
        {
            var chunk = Math.Min(block.Length, _maxFrameSize);
            var last = chunk == block.Length;
            WriteFrameHeader(chunk, TypeContinuation, last && endHeaders ? FlagEndHeaders : (byte)0, _blockStreamId, output);
            output.Write(block[..chunk]);
            block = block[chunk..];
        }
    }

    private static void WriteFrameHeader(int length, byte type, byte flags, int streamId, IBufferWriter<byte> output)
    {
        var span = output.GetSpan(FrameHeaderLength);
        span[0] = (byte)(length >> 16);
        span[1] = (byte)(length >> 8);
        span[2] = (byte)length;
        span[3] = type;
        span[4] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(span[5..], (uint)streamId);
        output.Advance(FrameHeaderLength);
    }
}
