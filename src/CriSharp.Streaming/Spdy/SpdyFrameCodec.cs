using System.Buffers.Binary;

namespace CriSharp.Streaming.Spdy;

/// <summary>
/// Encodes and decodes SPDY/3.1 frames for one connection. It owns the two header compression contexts
/// (one per direction), so frames carrying headers must be encoded in the order they go on the wire and
/// decoded in the order they came off it.
/// </summary>
sealed class SpdyFrameCodec
{
    public const int Version = 3;
    public const int HeaderBytes = 8;
    /// <summary>The 24-bit length field's limit.</summary>
    public const int MaxPayloadBytes = (1 << 24) - 1;

    readonly HeaderBlockDeflater _deflater = new();
    readonly HeaderBlockInflater _inflater = new();

    public byte[] Encode(SpdyFrame frame)
    {
        switch (frame)
        {
            case DataFrame d:
                {
                    var bytes = new byte[HeaderBytes + d.Data.Length];
                    BinaryPrimitives.WriteInt32BigEndian(bytes, d.StreamId & 0x7FFFFFFF);
                    Length(bytes, d.Flags, d.Data.Length);
                    d.Data.Span.CopyTo(bytes.AsSpan(HeaderBytes));
                    return bytes;
                }
            case SynStreamFrame s:
                {
                    var block = _deflater.Deflate(s.Headers.Encode());
                    var payload = new byte[10 + block.Length];
                    BinaryPrimitives.WriteInt32BigEndian(payload, s.StreamId & 0x7FFFFFFF);
                    BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(4), s.AssociatedStreamId & 0x7FFFFFFF);
                    payload[8] = (byte)((s.Priority & 0x7) << 5);
                    block.CopyTo(payload, 10);
                    return Control(SpdyFrameType.SynStream, s.Flags, payload);
                }
            case SynReplyFrame r:
                return Control(SpdyFrameType.SynReply, r.Flags, StreamAndBlock(r.StreamId, r.Headers));
            case HeadersFrame h:
                return Control(SpdyFrameType.Headers, h.Flags, StreamAndBlock(h.StreamId, h.Headers));
            case RstStreamFrame r:
                return Control(SpdyFrameType.RstStream, 0, TwoWords((uint)r.StreamId & 0x7FFFFFFF, (uint)r.Status));
            case SettingsFrame s:
                {
                    var payload = new byte[4 + 8 * s.Settings.Count];
                    BinaryPrimitives.WriteInt32BigEndian(payload, s.Settings.Count);
                    for (int i = 0; i < s.Settings.Count; i++)
                    {
                        var e = s.Settings[i];
                        BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(4 + 8 * i), ((uint)e.Flags << 24) | ((uint)e.Id & 0xFFFFFF));
                        BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(8 + 8 * i), e.Value);
                    }
                    return Control(SpdyFrameType.Settings, s.Flags, payload);
                }
            case PingFrame p:
                {
                    var payload = new byte[4];
                    BinaryPrimitives.WriteUInt32BigEndian(payload, p.Id);
                    return Control(SpdyFrameType.Ping, 0, payload);
                }
            case GoAwayFrame g:
                return Control(SpdyFrameType.GoAway, 0, TwoWords((uint)g.LastGoodStreamId & 0x7FFFFFFF, (uint)g.Status));
            case WindowUpdateFrame w:
                return Control(SpdyFrameType.WindowUpdate, 0, TwoWords((uint)w.StreamId & 0x7FFFFFFF, (uint)w.Delta & 0x7FFFFFFF));
            default:
                throw new ArgumentException($"cannot encode {frame.GetType().Name}", nameof(frame));
        }
    }

    /// <summary>Decodes a frame from its 8-byte header and its payload (the length the header announced).</summary>
    public SpdyFrame Decode(ReadOnlySpan<byte> header, ReadOnlyMemory<byte> payload)
    {
        var p = payload.Span;
        byte flags = header[4];
        if ((header[0] & 0x80) == 0)
            return new DataFrame(BinaryPrimitives.ReadInt32BigEndian(header) & 0x7FFFFFFF, flags, payload);

        int version = BinaryPrimitives.ReadUInt16BigEndian(header) & 0x7FFF;
        if (version != Version) throw new SpdyProtocolException($"unsupported SPDY version {version}");
        var type = BinaryPrimitives.ReadUInt16BigEndian(header[2..]);
        switch ((SpdyFrameType)type)
        {
            case SpdyFrameType.SynStream:
                Need(p, 10, type);
                return new SynStreamFrame(StreamId(p), StreamId(p[4..]), (byte)(p[8] >> 5), flags, Headers(p[10..]));
            case SpdyFrameType.SynReply:
                Need(p, 4, type);
                return new SynReplyFrame(StreamId(p), flags, Headers(p[4..]));
            case SpdyFrameType.Headers:
                Need(p, 4, type);
                return new HeadersFrame(StreamId(p), flags, Headers(p[4..]));
            case SpdyFrameType.RstStream:
                Exactly(p, 8, type);
                return new RstStreamFrame(StreamId(p), (SpdyResetStatus)BinaryPrimitives.ReadUInt32BigEndian(p[4..]));
            case SpdyFrameType.Settings:
                {
                    Need(p, 4, type);
                    int count = BinaryPrimitives.ReadInt32BigEndian(p);
                    if (count < 0 || p.Length != 4 + 8L * count) throw new SpdyProtocolException("SETTINGS length does not match its entry count");
                    var settings = new SpdySetting[count];
                    for (int i = 0; i < count; i++)
                    {
                        uint flagsAndId = BinaryPrimitives.ReadUInt32BigEndian(p[(4 + 8 * i)..]);
                        settings[i] = new SpdySetting((byte)(flagsAndId >> 24), (int)(flagsAndId & 0xFFFFFF), BinaryPrimitives.ReadUInt32BigEndian(p[(8 + 8 * i)..]));
                    }
                    return new SettingsFrame(flags, settings);
                }
            case SpdyFrameType.Ping:
                Exactly(p, 4, type);
                return new PingFrame(BinaryPrimitives.ReadUInt32BigEndian(p));
            case SpdyFrameType.GoAway:
                Exactly(p, 8, type);
                return new GoAwayFrame(StreamId(p), (SpdyGoAwayStatus)BinaryPrimitives.ReadUInt32BigEndian(p[4..]));
            case SpdyFrameType.WindowUpdate:
                Exactly(p, 8, type);
                return new WindowUpdateFrame(StreamId(p), BinaryPrimitives.ReadInt32BigEndian(p[4..]) & 0x7FFFFFFF);
            default:
                return new UnknownControlFrame(type);
        }
    }

    /// <summary>Reads one frame; null at a clean end of the connection between frames.</summary>
    public async Task<SpdyFrame?> ReadAsync(Stream transport, CancellationToken ct)
    {
        var header = new byte[HeaderBytes];
        int got = await transport.ReadAtLeastAsync(header, HeaderBytes, throwOnEndOfStream: false, ct);
        if (got == 0) return null;
        if (got < HeaderBytes) throw new EndOfStreamException("connection ended inside a frame header");
        int length = (header[5] << 16) | (header[6] << 8) | header[7];
        bool control = (header[0] & 0x80) != 0;
        if (control && length > SpdyHeaders.MaxBlockBytes + 16)
            throw new SpdyProtocolException($"control frame of {length} bytes is too large");
        var payload = new byte[length];
        await transport.ReadExactlyAsync(payload, ct);
        return Decode(header, payload);
    }

    SpdyHeaders Headers(ReadOnlySpan<byte> compressed)
    {
        // Always inflate, even for a frame about to be refused: skipping one would desynchronise the zlib context.
        var block = _inflater.Inflate(compressed);
        if (block.Length > SpdyHeaders.MaxBlockBytes) throw new SpdyProtocolException("header block too large");
        return SpdyHeaders.Decode(block);
    }

    byte[] StreamAndBlock(int streamId, SpdyHeaders headers)
    {
        var block = _deflater.Deflate(headers.Encode());
        var payload = new byte[4 + block.Length];
        BinaryPrimitives.WriteInt32BigEndian(payload, streamId & 0x7FFFFFFF);
        block.CopyTo(payload, 4);
        return payload;
    }

    static byte[] Control(SpdyFrameType type, byte flags, byte[] payload)
    {
        var bytes = new byte[HeaderBytes + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, 0x8000 | Version);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), (ushort)type);
        Length(bytes, flags, payload.Length);
        payload.CopyTo(bytes, HeaderBytes);
        return bytes;
    }

    static void Length(byte[] bytes, byte flags, int length)
    {
        if (length > MaxPayloadBytes) throw new ArgumentOutOfRangeException(nameof(length), "frame payload exceeds 16 MiB");
        bytes[4] = flags;
        bytes[5] = (byte)(length >> 16);
        bytes[6] = (byte)(length >> 8);
        bytes[7] = (byte)length;
    }

    static byte[] TwoWords(uint first, uint second)
    {
        var payload = new byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(payload, first);
        BinaryPrimitives.WriteUInt32BigEndian(payload.AsSpan(4), second);
        return payload;
    }

    static int StreamId(ReadOnlySpan<byte> p) => BinaryPrimitives.ReadInt32BigEndian(p) & 0x7FFFFFFF;

    static void Need(ReadOnlySpan<byte> p, int bytes, ushort type)
    {
        if (p.Length < bytes) throw new SpdyProtocolException($"control frame type {type} too short");
    }

    static void Exactly(ReadOnlySpan<byte> p, int bytes, ushort type)
    {
        if (p.Length != bytes) throw new SpdyProtocolException($"control frame type {type} must be {bytes} bytes, got {p.Length}");
    }
}
