using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
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
    readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public DaemonProcess(string extraToml = "", string? dir = null)
    {
        Dir = dir ?? Directory.CreateTempSubdirectory("crisharp-it-").FullName;
        Directory.CreateDirectory(CniConfDir);
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
            """);
    }

    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>The crisharp apphost built by `make build` (Release) or `dotnet build` (Debug), or $CRISHARP_BIN.</summary>
    public static string Binary
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("CRISHARP_BIN");
            if (!string.IsNullOrEmpty(env)) return env;
            var root = RepoRoot();
            var candidates = new[] { "Release", "Debug" }
                .Select(c => Path.Combine(root, "src/CriSharp.Daemon/bin", c, "net10.0/crisharp"))
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

    /// <summary>Starts crisharp with the given args (default: serve with this config).</summary>
    public Process Start(params string[] args)
    {
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
        p.Exited += (_, _) => _exited.TrySetResult();
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

    public void Dispose()
    {
        if (Process is { HasExited: false } p)
        {
            ProcessControl.Signal(p.Id, ProcessControl.SIGTERM);
            if (!p.WaitForExit(10_000)) { p.Kill(entireProcessTree: true); p.WaitForExit(); }
        }
        Process?.Dispose();
        try { Directory.Delete(Dir, recursive: true); } catch (DirectoryNotFoundException) { }
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
