using CriSharp.Configuration;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Serilog;

namespace CriSharp.Daemon.Metrics;

/// <summary>
/// The Prometheus endpoint: GET /metrics on its own plain-HTTP Kestrel listener, separate from the CRI socket so
/// that the gRPC services are never reachable over TCP.
/// </summary>
public sealed class MetricsServer : IAsyncDisposable
{
    readonly MeterBridge _bridge;
    readonly WebApplication _app;

    MetricsServer(MeterBridge bridge, WebApplication app)
    {
        _bridge = bridge;
        _app = app;
    }

    /// <summary>The address actually bound (the configured one, with the real port when it was 0).</summary>
    public string Address { get; private set; } = "";

    public static async Task<MetricsServer> StartAsync(MetricsConfig config, Serilog.ILogger logger, CancellationToken ct)
    {
        var endpoint = MetricsConfig.ParseAddress(config.Address)
            ?? throw new InvalidOperationException($"metrics.address '{config.Address}' is not IP:port");
        var bridge = new MeterBridge();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Host.UseSerilog(logger, dispose: false);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(endpoint, l => l.Protocols = HttpProtocols.Http1);
        });
        var app = builder.Build();
        app.MapGet("/metrics", async context =>
        {
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await bridge.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
        });
        var server = new MetricsServer(bridge, app);
        try
        {
            await app.StartAsync(ct);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        server.Address = app.Urls.FirstOrDefault() ?? config.Address;
        logger.Information("serving Prometheus metrics on {Address}/metrics", server.Address);
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _app.StopAsync(TimeSpan.FromSeconds(2));
        }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException)
        {
            // Never started, or already stopping.
        }
        await _app.DisposeAsync();
        _bridge.Dispose();
    }
}
