using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace CriSharp.Conformance.RawHttp2;

/// <summary>How the raw client encodes its request headers.</summary>
public sealed record RawHttp2Options(string Authority, bool Huffman = false, bool UseDynamicTable = false, int HeaderFragmentSize = 16384, byte PadLength = 0);

/// <summary>The outcome of one raw unary call; <c>HttpStatus</c> is 0 when the stream was reset or the connection failed.</summary>
public sealed record RawGrpcResult(int HttpStatus, int? GrpcStatus, string? GrpcMessage, byte[]? ResponseMessage);

/// <summary>
/// A minimal HTTP/2 gRPC client written straight on a unix socket, so tests control exactly how request
/// headers are encoded (Huffman, dynamic table, CONTINUATION, padding) the way other clients might.
/// </summary>
public static class RawGrpcClient
{
    /// <summary>
    /// Opens one connection to the unix socket, sends <paramref name="count"/> sequential unary calls on it
    /// (streams 1, 3, 5, ...) and returns each result.
    /// </summary>
    public static async Task<IReadOnlyList<RawGrpcResult>> UnaryCallsAsync(string unixSocketPath, string method, byte[] requestMessage, RawHttp2Options options, int count, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(requestMessage);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.HeaderFragmentSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.HeaderFragmentSize, RawConnection.MaxFrameSize);

        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(unixSocketPath), ct).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var connection = new RawConnection(stream, options);
        await connection.StartAsync(ct).ConfigureAwait(false);

        var results = new List<RawGrpcResult>(count);
        for (var i = 0; i < count; i++)
        {
            var streamId = 1 + (2 * i);
            if (connection.Failure is { } failure)
            {
                results.Add(new RawGrpcResult(0, null, failure, null));
                continue;
            }

            results.Add(await connection.CallAsync(streamId, method, requestMessage, ct).ConfigureAwait(false));
        }

        return results;
    }
}

/// <summary>One raw HTTP/2 connection: frame writing and a response loop for one stream at a time.</summary>
internal sealed class RawConnection(Stream stream, RawHttp2Options options)
{
    public const int MaxFrameSize = 16384;

    private const byte Data = 0x0, Headers = 0x1, RstStream = 0x3, Settings = 0x4, Ping = 0x6, GoAway = 0x7, Continuation = 0x9;
    private const byte EndStream = 0x1, Ack = 0x1, EndHeaders = 0x4, Padded = 0x8, Priority = 0x20;

    private static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    private readonly RawHpackEncoder _encoder = new(options.Huffman, options.UseDynamicTable);
    private readonly RawHpackDecoder _decoder = new();
    private readonly byte[] _header = new byte[9];

    /// <summary>Set once the connection is unusable; later calls report it.</summary>
    public string? Failure { get; private set; }

    public async Task StartAsync(CancellationToken ct)
    {
        var output = new MemoryStream();
        output.Write(Preface);

        // SETTINGS_ENABLE_PUSH = 0.
        WriteFrame(output, Settings, 0, 0, [0x00, 0x02, 0x00, 0x00, 0x00, 0x00]);
        await stream.WriteAsync(output.ToArray(), ct).ConfigureAwait(false);
    }

    public async Task<RawGrpcResult> CallAsync(int streamId, string method, byte[] message, CancellationToken ct)
    {
        var output = new MemoryStream();
        var block = _encoder.Encode(
        [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", method),
            (":authority", options.Authority),
            ("content-type", "application/grpc"),
            ("user-agent", "grpc-go/1.26.0"),
            ("te", "trailers"),
        ]);
        WriteHeaderBlock(output, streamId, block);

        var body = new byte[5 + message.Length];
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(1), (uint)message.Length);
        message.CopyTo(body, 5);
        WriteFrame(output, Data, EndStream, streamId, body);
        try
        {
            await stream.WriteAsync(output.ToArray(), ct).ConfigureAwait(false);
            return await ReadResponseAsync(streamId, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or InvalidDataException or EndOfStreamException)
        {
            Failure = $"connection failed: {ex.Message}";
            return new RawGrpcResult(0, null, Failure, null);
        }
    }

    private void WriteHeaderBlock(MemoryStream output, int streamId, byte[] block)
    {
        var fragment = options.HeaderFragmentSize;

        // The padded HEADERS frame must still fit the peer's max frame size with its pad-length byte.
        var room = options.PadLength > 0 ? MaxFrameSize - 1 - options.PadLength : MaxFrameSize;
        var first = Math.Min(Math.Min(fragment, room), block.Length);
        var flags = first == block.Length ? EndHeaders : (byte)0;
        if (options.PadLength > 0)
        {
            var payload = new byte[1 + first + options.PadLength];
            payload[0] = options.PadLength;
            block.AsSpan(0, first).CopyTo(payload.AsSpan(1));
            WriteFrame(output, Headers, (byte)(flags | Padded), streamId, payload);
        }
        else
        {
            WriteFrame(output, Headers, flags, streamId, block.AsSpan(0, first));
        }

        for (var offset = first; offset < block.Length; offset += fragment)
        {
            var chunk = Math.Min(fragment, block.Length - offset);
            WriteFrame(output, Continuation, offset + chunk == block.Length ? EndHeaders : (byte)0, streamId, block.AsSpan(offset, chunk));
        }
    }

    private async Task<RawGrpcResult> ReadResponseAsync(int streamId, CancellationToken ct)
    {
        int httpStatus = 0;
        int? grpcStatus = null;
        string? grpcMessage = null;
        var body = new MemoryStream();
        var sawHeaders = false;
        while (true)
        {
            var (type, flags, id, payload) = await ReadFrameAsync(ct).ConfigureAwait(false);
            switch (type)
            {
                case Settings when (flags & Ack) == 0:
                    await SendAsync(Settings, Ack, 0, [], ct).ConfigureAwait(false);
                    break;

                case Ping when (flags & Ack) == 0:
                    await SendAsync(Ping, Ack, 0, payload, ct).ConfigureAwait(false);
                    break;

                case GoAway:
                    {
                        var lastStream = (int)(BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7FFFFFFF);
                        var code = BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(4));
                        var debug = Encoding.UTF8.GetString(payload.AsSpan(8));
                        Failure = $"GOAWAY {ErrorName(code)} ({code}) last-stream {lastStream}: {debug}";
                        if (lastStream < streamId)
                        {
                            return new RawGrpcResult(httpStatus, grpcStatus, Failure, null);
                        }

                        break;
                    }

                case RstStream when id == streamId:
                    {
                        var code = BinaryPrimitives.ReadUInt32BigEndian(payload);
                        return new RawGrpcResult(httpStatus, grpcStatus, $"RST_STREAM {ErrorName(code)} ({code})", null);
                    }

                case Headers:
                    {
                        var block = await ReadHeaderBlockAsync(flags, id, payload, ct).ConfigureAwait(false);

                        // Every block is decoded, whatever its stream, to keep the HPACK state in step.
                        var fields = _decoder.Decode(block);
                        if (id != streamId)
                        {
                            break;
                        }

                        foreach (var (name, value) in fields)
                        {
                            switch (name)
                            {
                                case ":status" when !sawHeaders:
                                    httpStatus = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                                    break;
                                case "grpc-status":
                                    grpcStatus = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                                    break;
                                case "grpc-message":
                                    grpcMessage = Uri.UnescapeDataString(value);
                                    break;
                            }
                        }

                        sawHeaders = true;
                        if ((flags & EndStream) != 0)
                        {
                            return new RawGrpcResult(httpStatus, grpcStatus, grpcMessage, GrpcMessageOf(body));
                        }

                        break;
                    }

                case Data:
                    {
                        var data = payload.AsSpan();
                        if ((flags & Padded) != 0)
                        {
                            data = data[1..^payload[0]];
                        }

                        if (id == streamId)
                        {
                            body.Write(data);
                        }

                        if (payload.Length > 0)
                        {
                            // Give the flow-control credit straight back; keeps long runs from stalling.
                            var increment = new byte[4];
                            BinaryPrimitives.WriteUInt32BigEndian(increment, (uint)payload.Length);
                            await SendAsync(0x8, 0, 0, increment, ct).ConfigureAwait(false);
                        }

                        if (id == streamId && (flags & EndStream) != 0)
                        {
                            return new RawGrpcResult(httpStatus, grpcStatus, grpcMessage, GrpcMessageOf(body));
                        }

                        break;
                    }
            }
        }
    }

    private async Task<byte[]> ReadHeaderBlockAsync(byte flags, int streamId, byte[] payload, CancellationToken ct)
    {
        var start = 0;
        var end = payload.Length;
        if ((flags & Padded) != 0)
        {
            start = 1;
            end -= payload[0];
        }

        if ((flags & Priority) != 0)
        {
            start += 5;
        }

        var block = new MemoryStream();
        block.Write(payload, start, end - start);
        while ((flags & EndHeaders) == 0)
        {
            var (type, nextFlags, id, next) = await ReadFrameAsync(ct).ConfigureAwait(false);
            if (type != Continuation || id != streamId)
            {
                throw new InvalidDataException("expected CONTINUATION");
            }

            block.Write(next);
            flags = nextFlags;
        }

        return block.ToArray();
    }

    private static byte[]? GrpcMessageOf(MemoryStream body)
    {
        var bytes = body.ToArray();
        if (bytes.Length < 5)
        {
            return null;
        }

        var length = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(1));
        return bytes.Length >= 5 + length ? bytes.AsSpan(5, length).ToArray() : null;
    }

    private async Task<(byte Type, byte Flags, int StreamId, byte[] Payload)> ReadFrameAsync(CancellationToken ct)
    {
        await stream.ReadExactlyAsync(_header, ct).ConfigureAwait(false);
        var length = (_header[0] << 16) | (_header[1] << 8) | _header[2];
        if (length > MaxFrameSize)
        {
            throw new InvalidDataException($"frame of {length} bytes exceeds {MaxFrameSize}");
        }

        var payload = new byte[length];
        await stream.ReadExactlyAsync(payload, ct).ConfigureAwait(false);
        var minimum = _header[3] switch { GoAway => 8, RstStream => 4, _ => 0 };
        if (length < minimum || ((_header[4] & Padded) != 0 && (_header[3] is Data or Headers) && (length == 0 || payload[0] >= length)))
        {
            throw new InvalidDataException($"malformed frame of type {_header[3]}");
        }

        var id = (int)(BinaryPrimitives.ReadUInt32BigEndian(_header.AsSpan(5)) & 0x7FFFFFFF);
        return (_header[3], _header[4], id, payload);
    }

    private async Task SendAsync(byte type, byte flags, int streamId, byte[] payload, CancellationToken ct)
    {
        var output = new MemoryStream();
        WriteFrame(output, type, flags, streamId, payload);
        await stream.WriteAsync(output.ToArray(), ct).ConfigureAwait(false);
    }

    private static void WriteFrame(MemoryStream output, byte type, byte flags, int streamId, ReadOnlySpan<byte> payload)
    {
        Span<byte> header = stackalloc byte[9];
        header[0] = (byte)(payload.Length >> 16);
        header[1] = (byte)(payload.Length >> 8);
        header[2] = (byte)payload.Length;
        header[3] = type;
        header[4] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(header[5..], (uint)streamId);
        output.Write(header);
        output.Write(payload);
    }

    private static string ErrorName(uint code) => code switch
    {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        _ => "ERROR",
    };
}
