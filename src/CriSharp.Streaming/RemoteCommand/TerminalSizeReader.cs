using System.Runtime.CompilerServices;
using System.Text.Json;

namespace CriSharp.Streaming.RemoteCommand;

/// <summary>
/// Reads the resize stream: JSON TerminalSize objects one after another (Go's json.Encoder writes each with a
/// newline; a WebSocket client sends one per message), split wherever the transport happened to cut them.
/// </summary>
static class TerminalSizeReader
{
    /// <summary>A resize object is a few dozen bytes; anything this long without closing is garbage.</summary>
    const int MaxObjectBytes = 4096;

    public static async IAsyncEnumerable<TerminalSize> ReadAllAsync(Stream stream, [EnumeratorCancellation] CancellationToken ct)
    {
        var pending = new List<byte>();
        var buffer = new byte[1024];
        int depth = 0;
        bool inObject = false, inString = false, escaped = false;
        int n;
        while ((n = await stream.ReadAsync(buffer, ct)) > 0)
        {
            for (int i = 0; i < n; i++)
            {
                byte b = buffer[i];
                if (!inObject)
                {
                    if (b != (byte)'{') continue; // whitespace (or junk) between objects
                    inObject = true;
                    pending.Clear();
                }
                pending.Add(b);
                if (pending.Count > MaxObjectBytes) throw new InvalidDataException("resize message too long");
                if (inString)
                {
                    if (escaped) escaped = false;
                    else if (b == (byte)'\\') escaped = true;
                    else if (b == (byte)'"') inString = false;
                    continue;
                }
                if (b == (byte)'"') inString = true;
                else if (b == (byte)'{') depth++;
                else if (b == (byte)'}' && --depth == 0)
                {
                    inObject = false;
                    var size = JsonSerializer.Deserialize([.. pending], StreamingJsonContext.Default.TerminalSize);
                    if (size != null) yield return size;
                }
            }
        }
    }
}
