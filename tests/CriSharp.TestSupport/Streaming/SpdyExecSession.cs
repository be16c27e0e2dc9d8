using System.Text.Json;

namespace CriSharp.TestSupport.Streaming;

/// <summary>An exec/attach over the test SPDY client (tests of the streaming server and of the daemon end to end), opening streams in the order client-go does: error, stdin, stdout, stderr, resize.</summary>
sealed class SpdyExecSession : IAsyncDisposable
{
    public required TestSpdyClient Client { get; init; }
    public required string Protocol { get; init; }
    public required TestSpdyClient.ClientStream Error { get; init; }
    public TestSpdyClient.ClientStream? Stdin { get; init; }
    public TestSpdyClient.ClientStream? Stdout { get; init; }
    public TestSpdyClient.ClientStream? Stderr { get; init; }
    public TestSpdyClient.ClientStream? Resize { get; init; }

    public static async Task<SpdyExecSession> OpenAsync(Uri url, string protocol, bool stdin = false, bool stdout = true, bool stderr = true,
        bool resize = false, bool flowControl = false)
    {
        var upgrade = await TestSpdyClient.ConnectAsync(url, [protocol], flowControl);
        if (upgrade.Status != 101)
            throw new InvalidOperationException($"the SPDY upgrade was answered {upgrade.Status}: {upgrade.Body}");
        var negotiated = upgrade.Headers.TryGetValue("X-Stream-Protocol-Version", out var v) ? string.Join(",", v) : "";
        if (negotiated != protocol)
        {
            await upgrade.Client!.DisposeAsync();
            throw new InvalidOperationException($"the server negotiated '{negotiated}', not {protocol}");
        }
        var client = upgrade.Client!;
        if (flowControl) await client.SendInitialWindowAsync(64 * 1024);
        return new SpdyExecSession
        {
            Client = client,
            Protocol = protocol,
            Error = await client.OpenStreamAsync(("streamType", "error")),
            Stdin = stdin ? await client.OpenStreamAsync(("streamType", "stdin")) : null,
            Stdout = stdout ? await client.OpenStreamAsync(("streamType", "stdout")) : null,
            Stderr = stderr ? await client.OpenStreamAsync(("streamType", "stderr")) : null,
            Resize = resize ? await client.OpenStreamAsync(("streamType", "resize")) : null,
        };
    }

    /// <summary>The v4 status from the error stream, parsed as a client would.</summary>
    public async Task<JsonElement> StatusAsync()
    {
        var bytes = await Error.ReadToEndAsync();
        return JsonDocument.Parse(bytes).RootElement.Clone();
    }

    public ValueTask DisposeAsync() => Client.DisposeAsync();
}
