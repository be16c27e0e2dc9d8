using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using CriSharp.Configuration;
using CriSharp.Streaming.PortForward;
using CriSharp.Streaming.RemoteCommand;
using CriSharp.Streaming.Spdy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CriSharp.Streaming;

/// <summary>
/// The streaming server: a Kestrel listener of its own (HTTP/1.1, since SPDY and WebSocket are HTTP/1.1 upgrades)
/// serving <c>/exec/{token}</c>, <c>/attach/{token}</c> and <c>/portforward/{token}</c> for the URLs the CRI
/// Exec, Attach and PortForward calls hand out.
/// </summary>
public sealed class StreamingServer : IAsyncDisposable
{
    readonly StreamConfig _config;
    readonly IStreamingBackend _backend;
    readonly Serilog.ILogger _log;
    readonly TimeProvider _time;
    readonly CancellationTokenSource _stopping = new();
    WebApplication? _app;
    Uri? _baseUri;

    public StreamingServer(StreamConfig config, IStreamingBackend backend, Serilog.ILogger log, TimeProvider? time = null)
    {
        _config = config;
        _backend = backend;
        _log = log.ForContext<StreamingServer>();
        _time = time ?? TimeProvider.System;
        Tokens = new SessionTokens(_time);
    }

    public SessionTokens Tokens { get; }

    /// <summary>Where clients reach the server, e.g. http://127.0.0.1:10010/ (known once started; the bound port when configured as 0).</summary>
    public Uri BaseUri => _baseUri ?? throw new InvalidOperationException("the streaming server has not started");

    public int Port => BaseUri.Port;

    TimeSpan IdleTimeout => TimeSpan.FromSeconds(_config.IdleTimeoutSeconds);

    /// <summary>Binds the listener; throws (IOException) when the address cannot be bound.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        var address = IPAddress.Parse(_config.Address);
        bool tls = _config.TlsCert.Length > 0;
        var certificate = tls ? X509Certificate2.CreateFromPemFile(_config.TlsCert, _config.TlsKey) : null;

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = typeof(StreamingServer).Assembly.GetName().Name });
        builder.Logging.ClearProviders(); // the daemon logs through Serilog; sessions are logged here
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            // A session may rightly sit quiet or read slowly (an idle shell, output piped to a pager); the idle
            // timeout decides when quiet is too long, not Kestrel's data-rate guards.
            k.Limits.MinRequestBodyDataRate = null;
            k.Limits.MinResponseDataRate = null;
            k.Listen(address, (int)_config.Port, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                if (certificate != null) listen.UseHttps(certificate);
            });
        });
        _app = builder.Build();
        _app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(30) });
        _app.Run(HandleAsync);
        await _app.StartAsync(ct);

        var bound = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var host = address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) ? NodeAddress(address.AddressFamily) : address;
        var hostText = host.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{host}]" : host.ToString();
        _baseUri = new Uri($"{(tls ? "https" : "http")}://{hostText}:{new Uri(bound).Port}/");
        _log.Information("streaming server listening on {Url} (idle timeout {Idle})", _baseUri, IdleTimeout);
    }

    /// <summary>Issues a one-time URL for <paramref name="request"/>.</summary>
    /// <exception cref="StreamingBusyException">Too many URLs are waiting for their clients.</exception>
    public string CreateUrl(StreamSessionRequest request) => $"{BaseUri}{request.Verb}/{Tokens.Issue(request)}";

    public async Task StopAsync(CancellationToken ct)
    {
        await _stopping.CancelAsync();
        if (_app != null) await _app.StopAsync(ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        if (_app != null) await _app.DisposeAsync();
        _stopping.Dispose();
    }

    async Task HandleAsync(HttpContext context)
    {
        var segments = (context.Request.Path.Value ?? "").Trim('/').Split('/');
        var request = segments.Length == 2 ? Tokens.Redeem(segments[1]) : null;
        if (request == null || request.Verb != segments[0])
        {
            // Unknown, reused and expired tokens look the same, and nothing is started for them.
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            await context.Response.WriteAsync("streaming session not found (unknown, already used or expired token)\n");
            return;
        }

        using var session = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
        var idle = new IdleWatch(IdleTimeout, _time);
        var log = _log.ForContext("Session", request.Verb);
        try
        {
            switch (request)
            {
                case ExecSessionRequest e:
                    await ServeRemoteCommandAsync(context, new RemoteCommandOptions(e.Stdin, e.Stdout, e.Stderr, e.Tty, ReportExitCode: true),
                        ct => _backend.ExecAsync(e.ContainerId, e.Command, e.Tty, e.Stdin, ct), idle, log, session.Token);
                    break;
                case AttachSessionRequest a:
                    await ServeRemoteCommandAsync(context, new RemoteCommandOptions(a.Stdin, a.Stdout, a.Stderr, a.Tty, ReportExitCode: false),
                        ct => _backend.AttachAsync(a.ContainerId, a.Tty, a.Stdin, ct), idle, log, session.Token);
                    break;
                case PortForwardSessionRequest p:
                    await ServePortForwardAsync(context, p, idle, log, session.Token);
                    break;
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            log.Debug("streaming session ended abruptly: {Error}", e.Message);
        }
    }

    async Task ServeRemoteCommandAsync(HttpContext context, RemoteCommandOptions options, Func<CancellationToken, Task<IStreamingProcess>> start,
        IdleWatch idle, Serilog.ILogger log, CancellationToken ct)
    {
        if (context.WebSockets.IsWebSocketRequest)
        {
            var protocol = await NegotiateWebSocketAsync(context, RemoteCommandProtocols.WebSocket);
            if (protocol == null) return;
            using var socket = await context.WebSockets.AcceptWebSocketAsync(protocol.Length == 0 ? null : protocol);
            await WebSocketRemoteCommand.ServeAsync(socket, protocol, options, start, idle, log, ct);
        }
        else if (SpdyUpgrade.IsRequested(context.Request))
        {
            var protocol = await SpdyUpgrade.NegotiateAsync(context, RemoteCommandProtocols.Spdy, RemoteCommandProtocols.V1);
            if (protocol == null) return;
            var transport = await SpdyUpgrade.UpgradeAsync(context, protocol);
            if (transport == null) return;
            await SpdyRemoteCommand.ServeAsync(transport, protocol, options, start, idle, log, ct);
        }
        else await RefuseAsync(context);
    }

    async Task ServePortForwardAsync(HttpContext context, PortForwardSessionRequest request, IdleWatch idle, Serilog.ILogger log, CancellationToken ct)
    {
        if (context.WebSockets.IsWebSocketRequest)
        {
            var ports = request.Ports.Count > 0 ? request.Ports : QueryPorts(context.Request);
            if (ports == null || ports.Count == 0)
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                await context.Response.WriteAsync("a WebSocket port forward needs at least one port (in the request or as ?ports=)\n");
                return;
            }
            var protocol = await NegotiateWebSocketAsync(context, PortForwardProtocols.WebSocket);
            if (protocol == null) return;
            using var socket = await context.WebSockets.AcceptWebSocketAsync(protocol.Length == 0 ? null : protocol);
            await WebSocketPortForward.ServeAsync(socket, protocol, request.PodSandboxId, ports, _backend, idle, log, ct);
        }
        else if (SpdyUpgrade.IsRequested(context.Request))
        {
            var protocol = await SpdyUpgrade.NegotiateAsync(context, PortForwardProtocols.Spdy, PortForwardProtocols.V1);
            if (protocol == null) return;
            var transport = await SpdyUpgrade.UpgradeAsync(context, protocol);
            if (transport == null) return;
            await SpdyPortForward.ServeAsync(transport, request.PodSandboxId, _backend, idle, log, ct);
        }
        else await RefuseAsync(context);
    }

    /// <summary>The first of the client's subprotocols we speak; "" when it named none; null (400 sent) when none match.</summary>
    static async Task<string?> NegotiateWebSocketAsync(HttpContext context, IReadOnlyList<string> supported)
    {
        var offered = context.WebSockets.WebSocketRequestedProtocols;
        if (offered.Count == 0) return "";
        var chosen = offered.FirstOrDefault(p => supported.Contains(p, StringComparer.Ordinal));
        if (chosen != null) return chosen;
        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        await context.Response.WriteAsync($"requested protocol(s) are not supported: [{string.Join(' ', offered)}]; supports [{string.Join(' ', supported)}]\n");
        return null;
    }

    static async Task RefuseAsync(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        await context.Response.WriteAsync("unable to upgrade: missing upgrade headers in request (SPDY/3.1 or websocket expected)\n");
    }

    static List<int>? QueryPorts(HttpRequest request)
    {
        var ports = new List<int>();
        foreach (var value in request.Query["ports"].SelectMany(v => (v ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
        {
            if (!ushort.TryParse(value, out var port) || port == 0) return null;
            ports.Add(port);
        }
        return ports;
    }

    /// <summary>For a wildcard bind, the address the kubelet's proxy should dial: the node's first up, non-loopback address.</summary>
    static IPAddress NodeAddress(AddressFamily family)
    {
        var candidates = NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .Where(a => a.AddressFamily == family && !a.IsIPv6LinkLocal);
        return candidates.FirstOrDefault() ?? (family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback);
    }
}
