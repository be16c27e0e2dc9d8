using System.Globalization;
using System.IO.Pipes;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using CriSharp.Linux;
using CriSharp.Mechanism.Oci;
using CriSharp.Mechanism.Processes;
using Microsoft.Win32.SafeHandles;
using CriSharp.Model;

namespace CriSharp.Mechanism.Monitor;

/// <summary>A created container: its init process and the conmon daemon watching it.</summary>
public sealed record ContainerProcess(int Pid, int ConmonPid);

/// <summary>The OCI runtime (or conmon) refused to create a container; the message is the runtime's own.</summary>
public sealed class RuntimeCreateException : CriSharpException
{
    public RuntimeCreateException(string message, Exception? inner = null) : base(ErrorKind.Internal, message, inner) =>
        RuntimeMetrics.ContainerCreateFailures.Add(1);
}

/// <summary>
/// What conmon needs to create one container. <paramref name="LogPath"/> is the CRI log file (empty: `container.log`
/// in the bundle); <paramref name="StdinOnce"/> closes the container's stdin when the first attached client detaches.
/// </summary>
public sealed record ContainerLaunch(
    string Id, string Name, string Bundle, IOciRuntime Runtime, string LogPath,
    bool Terminal = false, bool Stdin = false, bool StdinOnce = false)
{
    /// <summary>conmon's --log-size-max in bytes; null leaves the log unbounded.</summary>
    public long? LogSizeMax { get; init; }
    public bool NoPivot { get; init; }
}

/// <summary>
/// Creates containers under conmon 2.1 the way CRI-O does: conmon runs `runtime create`, reports the container
/// pid (or the runtime's error) over a sync pipe, keeps the container's stdio, writes the CRI log file, serves the
/// attach socket and writes `exitDir/id` with the exit code when the container ends. The conmon process we start
/// forks a daemon and exits at once; nothing here waits for the daemon.
/// </summary>
public sealed class ConmonMonitor(string conmonPath, string exitDir, string attachDir, TimeSpan? createTimeout = null) : IContainerMonitor
{
    public string ConmonPath { get; } = conmonPath;
    public string ExitDir { get; } = exitDir;
    public string AttachDir { get; } = attachDir;
    /// <summary>Bound on the whole create: conmon start plus `runtime create` until the pid is reported.</summary>
    public TimeSpan CreateTimeout { get; } = createTimeout ?? TimeSpan.FromMinutes(2);
    public string LogLevel { get; init; } = "info";

    const int ReopenLogsEvent = 2; // conmon's REOPEN_LOGS_EVENT, src/config.h

    /// <summary>conmon's control FIFO (window resize, log reopen) in the bundle.</summary>
    public static string ControlFifoPath(string bundle) => Path.Combine(bundle, "ctl");

    /// <summary>Where conmon writes the container init's pid.</summary>
    public static string ContainerPidFile(string bundle) => Path.Combine(bundle, "pidfile");

    /// <summary>Where conmon writes its daemon's pid.</summary>
    public static string ConmonPidFile(string bundle) => Path.Combine(bundle, "conmon.pid");

    /// <summary>The pid conmon recorded for its daemon, or null when the file is missing or unreadable.</summary>
    public static int? ReadConmonPid(string bundle)
    {
        try
        {
            return int.TryParse(File.ReadAllText(ConmonPidFile(bundle)).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The log file conmon writes for <paramref name="launch"/>.</summary>
    public static string LogPathOf(ContainerLaunch launch) =>
        launch.LogPath.Length > 0 ? launch.LogPath : Path.Combine(launch.Bundle, "container.log");

    /// <summary>The conmon command line for <paramref name="request"/>; the sync pipe travels in the environment.</summary>
    public IReadOnlyList<string> BuildArgs(ContainerLaunch request)
    {
        var runtime = request.Runtime;
        runtime.EnsureAvailable();
        var args = new List<string>
        {
            "--api-version", "1",
            "-c", request.Id,
            "-u", request.Id,
            "-n", request.Name,
            "-r", runtime.BinaryPath,
            "-b", request.Bundle,
            "-p", ContainerPidFile(request.Bundle),
            "-P", ConmonPidFile(request.Bundle),
            "--persist-dir", request.Bundle, // conmon writes `exit` and `oom` here too
            "--exit-dir", ExitDir,
            "--socket-dir-path", AttachDir,
            "-l", "k8s-file:" + LogPathOf(request),
            "--log-level", LogLevel,
        };
        foreach (var arg in RuntimeArgs(runtime)) args.AddRange(["--runtime-arg", arg]);
        if (request.Terminal) args.Add("-t");
        if (request.Stdin)
        {
            args.Add("-i");
            if (!request.StdinOnce) args.Add("--leave-stdin-open");
        }
        if (request.LogSizeMax is { } max and > 0) args.AddRange(["--log-size-max", max.ToString(CultureInfo.InvariantCulture)]);
        if (request.NoPivot) args.Add("--no-pivot");
        return args;
    }

    // "--root=<dir>" as one word: conmon passes each --runtime-arg through to `runtime <args> create ...`.
    static IEnumerable<string> RuntimeArgs(IOciRuntime runtime) => ["--root=" + runtime.RootDir];

    /// <summary>
    /// Starts conmon, which runs `runtime create` for the bundle; returns once the container exists (state
    /// "created": call <see cref="OciRuntime.StartAsync"/> to run it). Throws <see cref="RuntimeCreateException"/>
    /// with the runtime's message when creation fails; the caller then deletes the half-made container.
    /// </summary>
    public async Task<ContainerProcess> CreateAsync(ContainerLaunch request, CancellationToken ct = default)
    {
        PrepareForCreate(request);
        using var deadline = new CancellationTokenSource(CreateTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token);

        var (readFd, writeFd) = Pipes.Create();
        using var syncPipe = OpenSyncPipe(readFd, writeFd);
        await LaunchConmonAsync(request, writeFd, ct).ConfigureAwait(false);

        var conmonPid = ReadConmonPid(request.Bundle) ?? 0;
        var message = await AwaitSyncMessageAsync(request, syncPipe, conmonPid, linked.Token, ct).ConfigureAwait(false);
        return new ContainerProcess(PidOf(request, message), conmonPid);
    }

    /// <summary>Makes the directories conmon writes into and removes what an earlier attempt left (pid files, exit file).</summary>
    void PrepareForCreate(ContainerLaunch request)
    {
        Directory.CreateDirectory(ExitDir);
        Directory.CreateDirectory(AttachDir);
        Directory.CreateDirectory(Path.GetDirectoryName(LogPathOf(request))!);
        foreach (var stale in new[] { ContainerPidFile(request.Bundle), ConmonPidFile(request.Bundle), ((IContainerMonitor)this).ExitFileOf(request.Id) })
            File.Delete(stale);
    }

    /// <summary>The read end of the sync pipe as a managed stream that owns (and closes) the fd; both fds are closed if that fails.</summary>
    static AnonymousPipeClientStream OpenSyncPipe(int readFd, int writeFd)
    {
        try
        {
            return new AnonymousPipeClientStream(PipeDirection.In, new SafePipeHandle(readFd, ownsHandle: true));
        }
        catch
        {
            Pipes.Close(readFd);
            Pipes.Close(writeFd);
            throw;
        }
    }

    /// <summary>
    /// Runs conmon with the sync pipe's write end (which it hands to its daemon) and closes our copy of that end
    /// whatever happens; throws <see cref="RuntimeCreateException"/> when conmon cannot run or exits non-zero.
    /// </summary>
    async Task LaunchConmonAsync(ContainerLaunch request, int writeFd, CancellationToken ct)
    {
        ProcessResult launcher;
        try
        {
            var env = new Dictionary<string, string> { ["_OCI_SYNCPIPE"] = writeFd.ToString(CultureInfo.InvariantCulture) };
            launcher = await ProcessRunner.RunAsync(ConmonPath, BuildArgs(request), CreateTimeout, ct, new ProcessOptions
            {
                Environment = env,
                WorkingDirectory = request.Bundle, // conmon drops its `oom` marker in its working directory
                InheritedFds = [writeFd],
            }).ConfigureAwait(false);
        }
        catch (ExternalProgramException e)
        {
            throw new RuntimeCreateException($"conmon for container {request.Id}: {e.Message}", e);
        }
        finally
        {
            // Only conmon may hold the write end now, so its death means EOF here.
            Pipes.Close(writeFd);
        }
        if (launcher.ExitCode != 0)
            throw new RuntimeCreateException(
                $"conmon for container {request.Id} exited with code {launcher.ExitCode}: {FirstNonEmpty(launcher.Stderr, launcher.Stdout, "(no output)").Trim()}");
    }

    /// <summary>
    /// Waits for conmon's report on the sync pipe until <paramref name="token"/> (the caller's token linked with the
    /// create deadline) fires; then kills conmon's daemon and rethrows the caller's cancellation, or throws
    /// <see cref="RuntimeCreateException"/> when the deadline passed.
    /// </summary>
    async Task<SyncMessage?> AwaitSyncMessageAsync(ContainerLaunch request, Stream syncPipe, int conmonPid, CancellationToken token,
        CancellationToken ct)
    {
        try
        {
            return await ReadSyncMessageAsync(syncPipe, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            if (conmonPid > 0) ProcessControl.Signal(conmonPid, ProcessControl.SIGKILL);
            if (ct.IsCancellationRequested) throw;
            throw new RuntimeCreateException(
                $"{request.Runtime.HandlerName}: creating container {request.Id} did not finish within {CreateTimeout.TotalSeconds:0}s; conmon {conmonPid} killed");
        }
    }

    /// <summary>The container pid conmon reported; throws <see cref="RuntimeCreateException"/> with the runtime's message when there is none.</summary>
    static int PidOf(ContainerLaunch request, SyncMessage? message)
    {
        var runtime = request.Runtime;
        if (message is null)
            throw new RuntimeCreateException(
                $"{runtime.HandlerName}: creating container {request.Id} failed: conmon exited without reporting a pid");
        var pid = message.Data ?? message.Pid ?? -1;
        if (pid <= 0)
            throw new RuntimeCreateException(
                $"{runtime.HandlerName}: creating container {request.Id} failed: {FirstNonEmpty(message.Message?.Trim(), "no message from the runtime")}");
        return pid;
    }

    /// <summary>
    /// Asks conmon to reopen the container log (after rotation) and waits until the new file exists, because
    /// kubelet's log rotation (and critest) look for it as soon as the call returns.
    /// </summary>
    public Task ReopenLogAsync(string bundle, string logPath, CancellationToken ct = default) =>
        ReopenLogAsync(bundle, logPath.Length > 0 ? logPath : null, TimeSpan.FromSeconds(10), ct);

    /// <summary>
    /// Asks conmon (through the bundle's `ctl` FIFO) to reopen the container log file, as after log rotation;
    /// returns once a fresh file exists at <paramref name="logPath"/> (when given).
    /// </summary>
    public static async Task ReopenLogAsync(string bundle, string? logPath, TimeSpan timeout, CancellationToken ct = default)
    {
        var before = logPath is null ? null : Inode(logPath);
        var line = Encoding.ASCII.GetBytes($"{ReopenLogsEvent} 0 0\n");
        if (!Pipes.TryWriteFifo(ControlFifoPath(bundle), line))
            throw new InvalidOperationException($"cannot reopen the container log: no conmon is listening on {ControlFifoPath(bundle)}");
        if (logPath is null) return;

        using var deadline = new CancellationTokenSource(timeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token);
        try
        {
            // conmon creates `<log>.tmp` and renames it over the path: wait for a file that is not the old one.
            while (Inode(logPath) is not { } now || now == before)
                await Task.Delay(20, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"conmon did not reopen {logPath} within {timeout.TotalSeconds:0.#}s");
        }
    }

    static ulong? Inode(string path) =>
        FileSystem.GetKind(path) == FileKind.Missing ? null : FileMetadata.Lstat(path).Inode;

    // conmon writes one JSON line: {"data": pid} or {"data": -1, "message": "runtime stderr"} (api v1; "pid" before).
    static async Task<SyncMessage?> ReadSyncMessageAsync(Stream pipe, CancellationToken ct)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[4096];
        while (true)
        {
            var n = await pipe.ReadAsync(chunk, ct).ConfigureAwait(false);
            if (n == 0) break;
            buffer.Write(chunk, 0, n);
            if (Array.IndexOf(chunk, (byte)'\n', 0, n) >= 0) break;
        }
        var text = Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        var first = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        if (first is null) return null;
        try
        {
            return JsonSerializer.Deserialize(first, ConmonJsonContext.Default.SyncMessage);
        }
        catch (JsonException)
        {
            return new SyncMessage { Data = -1, Message = "unreadable message from conmon: " + first };
        }
    }

    static string FirstNonEmpty(params string?[] values) => values.FirstOrDefault(v => !string.IsNullOrWhiteSpace(v)) ?? "";
}

/// <summary>One message on conmon's sync pipe.</summary>
internal sealed class SyncMessage
{
    [JsonPropertyName("data")] public int? Data { get; set; }
    [JsonPropertyName("pid")] public int? Pid { get; set; }
    [JsonPropertyName("message")] public string? Message { get; set; }
}

[JsonSerializable(typeof(SyncMessage))]
internal sealed partial class ConmonJsonContext : JsonSerializerContext;
