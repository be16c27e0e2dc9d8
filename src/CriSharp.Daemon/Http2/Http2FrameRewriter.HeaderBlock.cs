using System.Buffers;
using System.Buffers.Binary;

namespace CriSharp.Daemon.Http2;

/// <summary>Header blocks: a HEADERS frame's padding and priority stripped, the block decoded, its authority replaced and re-encoded as frames.</summary>
internal sealed partial class Http2FrameRewriter
{
    /// <summary>A whole HEADERS or CONTINUATION payload: its fragment joins the block, which is rewritten once END_HEADERS ends it.</summary>
    private void OnHeaderFrame(IBufferWriter<byte> output)
    {
        _state = State.FrameHeader;
        var payload = _payload.AsSpan(0, _payloadLength);
        ReadOnlySpan<byte> fragment = payload;
        if (_frameType == TypeHeaders && !TryBeginBlock(payload, out fragment))
        {
            // Padding or priority does not fit: a PROTOCOL_ERROR / FRAME_SIZE_ERROR for Kestrel to raise.
            EnterPassthrough("malformed HEADERS frame");
            output.Write(_frameHeader);
            output.Write(payload);
            return;
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

    /// <summary>
    /// Opens a header block with a HEADERS payload: <paramref name="fragment"/> is the payload without its padding and
    /// priority, which is kept for <see cref="EmitBlock"/>. False when padding or priority does not fit the payload.
    /// </summary>
    private bool TryBeginBlock(ReadOnlySpan<byte> payload, out ReadOnlySpan<byte> fragment)
    {
        fragment = default;
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
            return false;
        }

        fragment = payload[start..^padLength];
        _inBlock = true;
        _blockFlags = (byte)(_frameFlags & (FlagEndStream | FlagPriority));
        _fragment.Clear();
        return true;
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
