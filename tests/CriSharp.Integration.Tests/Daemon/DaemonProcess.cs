using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using CriSharp.Api.V1;
using CriSharp.Linux;
using Grpc.Net.Client;

namespace CriSharp.Integration.Tests.Daemon;

/// <summary>
/// A real `crisharp` process with its own temp config, root, state and socket, so tests never touch
/// the host's /run/crisharp. Dispose stops it (SIGTERM, then SIGKILL) and removes the temp dir.
/// </summary>
public sealed class DaemonProcess : IDisposable
{
    public string Dir { get; }
    public string Socket => Path.Combine(Dir, "crisharp.sock");
    public string ConfigFile => Path.Combine(Dir, "crisharp.toml");
    public string DropInDir => Path.Combine(Dir, "crisharp.d");
    public string CniConfDir => Path.Combine(Dir, "net.d");
    public Process? Process { get; private set; }
    readonly StringBuilder _stderr = new();
    TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A network of only the loopback plugin: pods get a netns with lo and no address, and no host bridge is touched.</summary>
    public const string LoopbackConflist = """{"cniVersion":"1.0.0","name":"crisharp-it-lo","plugins":[{"type":"loopback"}]}""";

    /// <param name="loopbackNetwork">Writes <see cref="LoopbackConflist"/> as 99-loopback.conflist so non-host-network pods can run.</param>
    public DaemonProcess(string extraToml = "", string? dir = null, bool loopbackNetwork = true)
    {
        Dir = dir ?? Directory.CreateTempSubdirectory("crisharp-it-").FullName;
        Directory.CreateDirectory(Dir);
        // As /var/lib and /run are on a node: others may pass through (not list), which a pod's root in its own
        // user namespace needs to reach its rootfs and pod files (a 0700 temp dir would make the probe fail).
        File.SetUnixFileMode(Dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        Directory.CreateDirectory(CniConfDir);
        if (loopbackNetwork) File.WriteAllText(Path.Combine(CniConfDir, "99-loopback.conflist"), LoopbackConflist);
        File.WriteAllText(ConfigFile, $"""
            root = "{Dir}/root"
            state_dir = "{Dir}/state"
            listen = "{Socket}"
            log_level = "debug"
            {extraToml}
            [network]
            conf_dir = "{CniConfDir}"
            [stream]
            port = 0
            # Private runtime state: test daemons never share runc/crun roots with each other or the host.
            [runtimes.runc]
            root_dir = "{Dir}/state/runc"
            [runtimes.crun]
            root_dir = "{Dir}/state/crun"
            """);
    }

    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>$CRISHARP_BIN, else the newest crisharp built: the NativeAOT binary of `make build`, or the
    /// apphost of `dotnet build` (Release or Debug).</summary>
    public static string Binary
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("CRISHARP_BIN");
            if (!string.IsNullOrEmpty(env)) return env;
            var root = RepoRoot();
            var candidates = new[] { "Release/aot", "Release/net10.0", "Debug/aot", "Debug/net10.0" }
                .Select(c => Path.Combine(root, "src/CriSharp.Daemon/bin", c, "crisharp"))
                .Where(File.Exists)
                .OrderByDescending(File.GetLastWriteTimeUtc)
                .ToList();
            return candidates.FirstOrDefault()
                ?? throw new InvalidOperationException("crisharp is not built: run `make build` (or set CRISHARP_BIN)");
        }
    }

    public static string RepoRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d != null && !File.Exists(Path.Combine(d.FullName, "CriSharp.sln"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("cannot find the repository root (CriSharp.sln)");
    }

    /// <summary>
    /// Starts crisharp with the given args (default: serve with this config). After the previous process
    /// exited this starts a new one on the same Dir, config, root and state (a daemon restart).
    /// </summary>
    public Process Start(params string[] args)
    {
        if (Process is { HasExited: false })
            throw new InvalidOperationException($"crisharp (pid {Process.Id}) is still running");
        Process?.Dispose();
        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _exited = exited;
        var psi = new ProcessStartInfo(Binary)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in args.Length > 0 ? args : ["--config", ConfigFile, "--config-dir", DropInDir]) psi.ArgumentList.Add(a);
        var p = new Process { StartInfo = psi, EnableRaisingEvents = true };
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_stderr) _stderr.AppendLine(e.Data); };
        p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_stderr) _stderr.AppendLine(e.Data); };
        p.Exited += (_, _) => exited.TrySetResult();
        p.Start();
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        Process = p;
        return p;
    }

    /// <summary>Starts and waits until the socket answers (or the process dies).</summary>
    public async Task<DaemonProcess> StartServingAsync()
    {
        Start();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (Process!.HasExited)
                throw new InvalidOperationException($"crisharp exited with {Process.ExitCode}:\n{Stderr}");
            if (File.Exists(Socket) && Answers(Socket)) return this;
            await Task.Delay(50);
        }
        throw new TimeoutException($"crisharp did not answer on {Socket} within 30 s:\n{Stderr}");
    }

    public static bool Answers(string socket)
    {
        using var s = new System.Net.Sockets.Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try { s.Connect(new UnixDomainSocketEndPoint(socket)); return true; }
        catch (SocketException) { return false; }
    }

    /// <summary>Waits for exit; returns the exit code, or null on timeout.</summary>
    public async Task<int?> WaitForExitAsync(TimeSpan timeout)
    {
        var done = await Task.WhenAny(_exited.Task, Task.Delay(timeout));
        if (done != _exited.Task) return null;
        Process!.WaitForExit(); // flushes the redirected streams
        return Process.ExitCode;
    }

    public void Signal(int signal) => ProcessControl.Signal(Process!.Id, signal);

    public GrpcChannel Channel() => CriChannel.ForUnixSocket(Socket);

    /// <summary>Stops the running process, if any (SIGTERM, then SIGKILL after 10 s); Dir is kept.</summary>
    public void Stop()
    {
        if (Process is { HasExited: false } p)
        {
            ProcessControl.Signal(p.Id, ProcessControl.SIGTERM);
            if (!p.WaitForExit(10_000)) { p.Kill(entireProcessTree: true); p.WaitForExit(); }
        }
    }

    public void Dispose()
    {
        RemoveLeftoverPods();
        Stop();
        Process?.Dispose();
        KillLeftoverMonitors();
        foreach (var m in Mounts.ReadMountInfo().Where(m => m.MountPoint.StartsWith(Dir + "/", StringComparison.Ordinal)).OrderByDescending(m => m.MountPoint.Length))
            Mounts.Unmount(m.MountPoint, detach: true);
        try { Directory.Delete(Dir, recursive: true); } catch (DirectoryNotFoundException) { }
    }

    /// <summary>A test that failed midway may leave pods: containers outlive the daemon, so remove them through it.</summary>
    void RemoveLeftoverPods()
    {
        if (Process is not { HasExited: false } || !File.Exists(Socket)) return;
        try
        {
            var client = new RuntimeService.RuntimeServiceClient(Channel());
            var deadline = DateTime.UtcNow.AddSeconds(30);
            foreach (var pod in client.ListPodSandbox(new ListPodSandboxRequest(), deadline: deadline).Items)
                client.RemovePodSandbox(new RemovePodSandboxRequest { PodSandboxId = pod.Id }, deadline: deadline);
        }
        catch (Grpc.Core.RpcException)
        {
            // The daemon is unhealthy; the monitor sweep below still ends the containers.
        }
    }

    /// <summary>Last resort: conmon processes (and their containers) started for this daemon's dirs.</summary>
    void KillLeftoverMonitors()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc").Select(Path.GetFileName))
        {
            if (!int.TryParse(dir, out var pid)) continue;
            string cmdline;
            try { cmdline = File.ReadAllText($"/proc/{pid}/cmdline"); }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            if (cmdline.StartsWith("/usr/bin/conmon\0", StringComparison.Ordinal) && cmdline.Contains(Dir + "/", StringComparison.Ordinal))
            {
                var child = ReadChildPid(pid);
                if (child > 0) ProcessControl.Signal(child, ProcessControl.SIGKILL);
                ProcessControl.Signal(pid, ProcessControl.SIGKILL);
            }
        }
    }

    static int ReadChildPid(int pid)
    {
        try
        {
            var children = File.ReadAllText($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return children.Length > 0 ? int.Parse(children[0]) : 0;
        }
        catch (IOException) { return 0; }
    }
}

/// <summary>grpc-dotnet channels over a unix socket, as kubelet's new clients dial.</summary>
public static class CriChannel
{
    public static GrpcChannel ForUnixSocket(string socket) =>
        GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, ct) =>
                {
                    var s = new System.Net.Sockets.Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    try
                    {
                        await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), ct);
                        return new NetworkStream(s, ownsSocket: true);
                    }
                    catch
                    {
                        s.Dispose();
                        throw;
                    }
                },
            },
        });
}
