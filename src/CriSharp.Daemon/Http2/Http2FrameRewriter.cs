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
internal sealed partial class Http2FrameRewriter
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
                    ConsumePreface(ref input, output);
                    break;

                case State.FrameHeader:
                    if (Fill(ref input, _frameHeader, ref _frameHeaderFill))
                    {
                        _frameHeaderFill = 0;
                        OnFrameHeader(output);
                    }

                    break;

                case State.CopyPayload:
                    CopyPayload(ref input, output);
                    break;

                case State.BufferPayload:
                    if (Fill(ref input, _payload.AsSpan(0, _payloadLength), ref _payloadFill))
                    {
                        OnHeaderFrame(output);
                    }

                    break;
            }
        }
    }

    /// <summary>
    /// Matches the connection preface and forwards it once whole. On a mismatch it forwards what matched so far and
    /// passes through from there, leaving <paramref name="input"/> for the passthrough to forward.
    /// </summary>
    private void ConsumePreface(ref ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        var expected = Preface[_prefaceMatched..];
        var n = Math.Min(expected.Length, input.Length);
        if (!input[..n].SequenceEqual(expected[..n]))
        {
            // Not HTTP/2 with prior knowledge (e.g. HTTP/1.1 on a shared endpoint): hands off.
            output.Write(Preface[.._prefaceMatched]);
            EnterPassthrough("no HTTP/2 connection preface");
            return;
        }

        _prefaceMatched += n;
        input = input[n..];
        if (_prefaceMatched == Preface.Length)
        {
            output.Write(Preface);
            _state = State.FrameHeader;
        }
    }

    /// <summary>
    /// Moves bytes from <paramref name="input"/> into <paramref name="buffer"/> after the <paramref name="fill"/> already
    /// there; true once the buffer is full (a frame header or a header frame's payload is then whole).
    /// </summary>
    private static bool Fill(ref ReadOnlySpan<byte> input, Span<byte> buffer, ref int fill)
    {
        var n = Math.Min(buffer.Length - fill, input.Length);
        input[..n].CopyTo(buffer[fill..]);
        fill += n;
        input = input[n..];
        return fill == buffer.Length;
    }

    /// <summary>Forwards the payload of a frame that is not part of a header block as it arrives.</summary>
    private void CopyPayload(ref ReadOnlySpan<byte> input, IBufferWriter<byte> output)
    {
        var n = Math.Min(_payloadRemaining, input.Length);
        output.Write(input[..n]);
        input = input[n..];
        _payloadRemaining -= n;
        if (_payloadRemaining == 0)
        {
            _state = State.FrameHeader;
        }
    }

    /// <summary>A whole frame header: a frame the rewriter cannot handle ends rewriting, one outside header blocks is copied, a header frame is buffered.</summary>
    private void OnFrameHeader(IBufferWriter<byte> output)
    {
        var length = (_frameHeader[0] << 16) | (_frameHeader[1] << 8) | _frameHeader[2];
        var type = _frameHeader[3];
        var flags = _frameHeader[4];
        var streamId = (int)(BinaryPrimitives.ReadUInt32BigEndian(_frameHeader.AsSpan(5)) & 0x7FFFFFFF);

        if (Violation(type, streamId, length) is { } violation)
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

        StartHeaderFrame(type, flags, streamId, length, output);
    }

    /// <summary>What makes this frame one the rewriter will not handle, or null.</summary>
    private string? Violation(byte type, int streamId, int length)
    {
        if (_inBlock && (type != TypeContinuation || streamId != _blockStreamId))
        {
            return "frame interleaved in a header block";
        }

        if (type == TypeContinuation && !_inBlock)
        {
            return "CONTINUATION without a header block";
        }

        if (type == TypeHeaders && streamId == 0)
        {
            return "HEADERS on stream 0";
        }

        if ((type == TypeHeaders || type == TypeContinuation) && length > _maxFrameSize)
        {
            return "header frame larger than SETTINGS_MAX_FRAME_SIZE";
        }

        return null;
    }

    /// <summary>Makes room for a HEADERS or CONTINUATION payload and starts buffering it (an empty one is handled at once).</summary>
    private void StartHeaderFrame(byte type, byte flags, int streamId, int length, IBufferWriter<byte> output)
    {
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
}
