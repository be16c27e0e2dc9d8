using CriSharp.Configuration;
using CriSharp.Streaming.Tests.Fakes;

namespace CriSharp.Streaming.Tests;

/// <summary>A streaming server on an ephemeral loopback port with the fake backend behind it.</summary>
sealed class StreamingHarness : IAsyncDisposable
{
    StreamingHarness(StreamingServer server, FakeBackend backend)
    {
        Server = server;
        Backend = backend;
    }

    public StreamingServer Server { get; }
    public FakeBackend Backend { get; }

    public static async Task<StreamingHarness> StartAsync(long idleTimeoutSeconds = 3600, TimeProvider? time = null, IStreamingBackend? backend = null,
        string tlsCert = "", string tlsKey = "")
    {
        var fake = new FakeBackend();
        var config = new StreamConfig { Address = "127.0.0.1", Port = 0, IdleTimeoutSeconds = idleTimeoutSeconds, TlsCert = tlsCert, TlsKey = tlsKey };
        var server = new StreamingServer(config, backend ?? fake, new Serilog.LoggerConfiguration().CreateLogger(), time);
        await server.StartAsync(CancellationToken.None);
        return new StreamingHarness(server, fake);
    }

    public Uri Url(StreamSessionRequest request) => new(Server.CreateUrl(request));

    public Uri Exec(string command, bool stdin = false, bool stdout = true, bool stderr = true, bool tty = false) =>
        Url(new ExecSessionRequest("c1", command.Split(' '), tty, stdin, stdout, stderr && !tty));

    public async ValueTask DisposeAsync()
    {
        await Server.StopAsync(CancellationToken.None);
        await Server.DisposeAsync();
    }
}

/// <summary>A clock the tests move by hand.</summary>
sealed class ManualTime : TimeProvider
{
    DateTimeOffset _now = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
    public override DateTimeOffset GetUtcNow() => _now;
    public void Advance(TimeSpan by) => _now += by;
}
