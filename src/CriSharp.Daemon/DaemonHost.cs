using System.Runtime.InteropServices;
using CriSharp.Configuration;
using CriSharp.Cri;
using CriSharp.Daemon.Http2;
using CriSharp.Daemon.Metrics;
using CriSharp.Linux;
using CriSharp.Streaming;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Serilog;
using Serilog.Core;

namespace CriSharp.Daemon;

/// <summary>Runs the daemon: config, logging, the CRI socket, signals, graceful shutdown.</summary>
public static class DaemonHost
{
    const UnixFileMode SocketMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite;

    public static async Task<int> RunAsync(ConfigSources sources, CancellationToken ct)
    {
        if (LoadOrReport(sources) is not { } config)
            return 2;

        var level = new LoggingLevelSwitch();
        using var logger = Logging.Create(config, level);
        Log.Logger = logger;
        if (!PrepareSocket(config.Listen, logger))
            return 1;

        RaiseMinThreads();
        var live = new LiveConfig(config, sources);
        await using var app = CreateBuilder(config, live, logger).Build();
        app.MapGrpcService<RuntimeService>();
        app.MapGrpcService<ImageService>();
        // Before recovery, so what recovery records (process failures, OOM kills) is counted.
        await using var metrics = config.Metrics.Enabled ? await StartMetricsAsync(config.Metrics, logger, ct) : null;
        if (config.Metrics.Enabled && metrics == null) return 1;
        await CriServices.RecoverAsync(app.Services, logger);

        // Before the CRI socket: the first Exec the kubelet sends needs the streaming port to build its URL.
        var streaming = app.Services.GetRequiredService<StreamingServer>();
        if (!await StartStreamingAsync(streaming, config.Stream, logger, ct))
            return 1;

        // Before the socket exists: a SIGHUP sent as soon as the socket answers must reload, never kill the daemon.
        using var hup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, ctx =>
        {
            ctx.Cancel = true; // SIGHUP means reload, never exit
            Reload(live, level, logger);
        });
        if (!await StartCriSocketAsync(app, config.Listen, logger, ct))
            return 1;

        await using var trimmer = new MemoryTrimmer(logger);
        trimmer.Start();
        logger.Information("crisharp {Version} serving CRI {ApiVersion} on {Socket} (pid {Pid})",
            VersionInfo.RuntimeVersion, VersionInfo.CriApiVersion, config.Listen, Environment.ProcessId);

        await app.WaitForShutdownAsync(CancellationToken.None);
        await streaming.StopAsync(CancellationToken.None);
        RemoveSocket(config.Listen, logger);
        logger.Information("crisharp stopped");
        return 0;
    }

    /// <summary>The effective configuration loaded from <paramref name="sources"/>, or null once the reason it is invalid is on stderr.</summary>
    internal static DaemonConfig? LoadOrReport(ConfigSources sources)
    {
        try
        {
            return ConfigLoader.Load(sources);
        }
        catch (ConfigException e)
        {
            Console.Error.WriteLine($"crisharp: invalid configuration: {e.Message}");
            return null;
        }
    }

    /// <summary>Readies the CRI socket's path (see <see cref="SocketGuard.Prepare"/>); false, logged, when it cannot be used.</summary>
    static bool PrepareSocket(string listen, Serilog.ILogger logger)
    {
        try
        {
            SocketGuard.Prepare(listen);
            return true;
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException or LinuxException)
        {
            logger.Error("crisharp cannot listen on {Socket}: {Reason}", listen, e.Message);
            return false;
        }
    }

    // Create/start paths still block briefly (process spawn lock, cgroup rmdir retries); a larger
    // minimum keeps a burst of kubelet calls from waiting on the pool's slow thread injection.
    static void RaiseMinThreads()
    {
        ThreadPool.GetMinThreads(out var minWorkers, out var minIo);
        ThreadPool.SetMinThreads(Math.Max(minWorkers, 32), minIo);
    }

    /// <summary>The CRI host: Serilog, the shutdown timeout, Kestrel on the Unix socket (HTTP/2 with the authority rewrite) and the CRI services.</summary>
    static WebApplicationBuilder CreateBuilder(DaemonConfig config, LiveConfig live, Serilog.ILogger logger)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Host.UseSerilog(logger, dispose: false);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(config.ShutdownTimeoutSeconds));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.ListenUnixSocket(config.Listen, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                listen.UseAuthorityRewrite();
            });
        });
        builder.Services.AddCri(live, logger);
        return builder;
    }

    static async Task<bool> StartStreamingAsync(StreamingServer streaming, StreamConfig config, Serilog.ILogger logger, CancellationToken ct)
    {
        try
        {
            await streaming.StartAsync(ct);
            return true;
        }
        catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException or UnauthorizedAccessException)
        {
            logger.Error("crisharp cannot serve streaming on {Address}:{Port}: {Reason}", config.Address, config.Port, e.Message);
            return false;
        }
    }

    /// <summary>Starts the app, so Kestrel binds the CRI socket, and opens the socket to its group; false, logged, when it cannot bind.</summary>
    static async Task<bool> StartCriSocketAsync(WebApplication app, string listen, Serilog.ILogger logger, CancellationToken ct)
    {
        // The socket must never be reachable with looser permissions than 0660, not even briefly.
        var oldMask = ProcessControl.SetUmask(0b001_111_111); // 0177: 0600 at bind, widened to 0660 below
        try
        {
            await app.StartAsync(ct);
        }
        catch (IOException e)
        {
            logger.Error("crisharp cannot listen on {Socket}: {Reason}", listen, e.Message);
            return false;
        }
        finally
        {
            ProcessControl.SetUmask(oldMask);
        }
        File.SetUnixFileMode(listen, SocketMode);
        return true;
    }

    static void RemoveSocket(string listen, Serilog.ILogger logger)
    {
        try
        {
            if (FileSystem.GetKind(listen) == FileKind.Socket) File.Delete(listen);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.Warning("could not remove socket {Socket}: {Reason}", listen, e.Message);
        }
    }

    static async Task<MetricsServer?> StartMetricsAsync(MetricsConfig config, Serilog.ILogger logger, CancellationToken ct)
    {
        try
        {
            return await MetricsServer.StartAsync(config, logger, ct);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            logger.Error("crisharp cannot serve metrics on {Address}: {Reason}", config.Address, e.Message);
            return null;
        }
    }

    /// <summary>Keys whose new value takes effect on SIGHUP; every other key needs a restart.</summary>
    public static readonly string[] ReloadableKeys = ["log_level", "network.conf_dir", "network.plugin_dirs", "network.network_name"];

    static void Reload(LiveConfig live, LoggingLevelSwitch level, Serilog.ILogger logger)
    {
        try
        {
            var old = live.Current;
            var next = live.Reload();
            level.MinimumLevel = Logging.ParseLevel(next.LogLevel);
            var oldToml = ConfigRenderer.Render(old, withComments: false).Split('\n');
            var changed = ConfigRenderer.Render(next, withComments: false).Split('\n').Except(oldToml).ToList();
            logger.Information("configuration reloaded on SIGHUP; log_level={Level}; changed lines: {Changed}; reloadable keys: {Reloadable}",
                next.LogLevel, changed, ReloadableKeys);
        }
        catch (ConfigException e)
        {
            logger.Error("configuration reload failed, keeping the running config: {Reason}", e.Message);
        }
    }
}
