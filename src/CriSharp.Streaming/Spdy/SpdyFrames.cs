namespace CriSharp.Streaming.Spdy;

/// <summary>Control frame types of SPDY/3 (NOOP and CREDENTIAL are gone in 3.1 and ignored if seen).</summary>
enum SpdyFrameType : ushort
{
    SynStream = 1,
    SynReply = 2,
    RstStream = 3,
    Settings = 4,
    Ping = 6,
    GoAway = 7,
    Headers = 8,
    WindowUpdate = 9,
}

/// <summary>RST_STREAM status codes.</summary>
enum SpdyResetStatus : uint
{
    ProtocolError = 1,
    InvalidStream = 2,
    RefusedStream = 3,
    UnsupportedVersion = 4,
    Cancel = 5,
    InternalError = 6,
    FlowControlError = 7,
    StreamInUse = 8,
    StreamAlreadyClosed = 9,
    FrameTooLarge = 11,
}

/// <summary>GOAWAY status codes.</summary>
enum SpdyGoAwayStatus : uint
{
    Ok = 0,
    ProtocolError = 1,
    InternalError = 2,
}

/// <summary>One decoded SPDY/3.1 frame.</summary>
abstract record SpdyFrame
{
    /// <summary>FLAG_FIN on DATA, SYN_STREAM, SYN_REPLY and HEADERS.</summary>
    public const byte FlagFin = 0x01;
    /// <summary>FLAG_UNIDIRECTIONAL on SYN_STREAM: the receiver must not send on the stream.</summary>
    public const byte FlagUnidirectional = 0x02;
    /// <summary>SETTINGS id of the initial per-stream window.</summary>
    public const int SettingInitialWindowSize = 7;
}

/// <summary>DATA: a piece of one stream's bytes.</summary>
sealed record DataFrame(int StreamId, byte Flags, ReadOnlyMemory<byte> Data) : SpdyFrame
{
    public bool Fin => (Flags & FlagFin) != 0;
}

/// <summary>SYN_STREAM: the peer opens a stream.</summary>
sealed record SynStreamFrame(int StreamId, int AssociatedStreamId, byte Priority, byte Flags, SpdyHeaders Headers) : SpdyFrame
{
    public bool Fin => (Flags & FlagFin) != 0;
    public bool Unidirectional => (Flags & FlagUnidirectional) != 0;
}

/// <summary>SYN_REPLY: the receiver accepts a stream.</summary>
sealed record SynReplyFrame(int StreamId, byte Flags, SpdyHeaders Headers) : SpdyFrame
{
    public bool Fin => (Flags & FlagFin) != 0;
}

/// <summary>RST_STREAM: a stream is abandoned.</summary>
sealed record RstStreamFrame(int StreamId, SpdyResetStatus Status) : SpdyFrame;

/// <summary>One SETTINGS entry: 8-bit flags, 24-bit id, 32-bit value.</summary>
readonly record struct SpdySetting(byte Flags, int Id, uint Value);

/// <summary>SETTINGS: session parameters (we only act on the initial window size).</summary>
sealed record SettingsFrame(byte Flags, IReadOnlyList<SpdySetting> Settings) : SpdyFrame;

/// <summary>PING: echoed back when the peer sent it.</summary>
sealed record PingFrame(uint Id) : SpdyFrame;

/// <summary>GOAWAY: no new streams after the last good one.</summary>
sealed record GoAwayFrame(int LastGoodStreamId, SpdyGoAwayStatus Status) : SpdyFrame;

/// <summary>HEADERS: more headers for an open stream (possibly with FIN).</summary>
sealed record HeadersFrame(int StreamId, byte Flags, SpdyHeaders Headers) : SpdyFrame
{
    public bool Fin => (Flags & FlagFin) != 0;
}

/// <summary>WINDOW_UPDATE; stream 0 is the session window (SPDY/3.1).</summary>
sealed record WindowUpdateFrame(int StreamId, int Delta) : SpdyFrame;

/// <summary>A control frame of a type this implementation does not act on (skipped, as the spec asks).</summary>
sealed record UnknownControlFrame(ushort Type) : SpdyFrame;
