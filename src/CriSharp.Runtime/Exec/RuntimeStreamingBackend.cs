using System.Net.Sockets;
using System.Security.Cryptography;
using CriSharp.Configuration;
using CriSharp.Linux;
using CriSharp.Mechanism.Monitor;
using CriSharp.Mechanism.Oci;
using CriSharp.Mechanism.Processes;
using CriSharp.Model;
using CriSharp.State;
using CriSharp.Streaming;
using Serilog;

namespace CriSharp.Runtime.Exec;

/// <summary>
/// The runtime side of the streaming server: exec through the OCI runtime's `exec`, attach through conmon's
/// attach socket, port-forward connections dialled from inside the pod's network namespace.
///
/// A tty exec needs the runtime in the foreground (its exit status is the command's) with a pty. crun sends the
/// pty master over `--console-socket` even in the foreground, so we get the container's own terminal. runc
/// accepts a console socket only with `--detach` (and then nobody can collect the exit status), so runc runs
/// the exec in the foreground on a pty of ours as its controlling terminal and relays it to the container's
/// terminal; a resize sizes our pty, and runc passes it on (SIGWINCH).
/// </summary>
public sealed class RuntimeStreamingBackend(
    ExecTargets targets,
    ExecProcessSpecs specs,
    IContainerMonitor monitor,
    RecordIndex<ContainerRecord> containers,
    RecordIndex<PodSandbox> sandboxes,
    LiveConfig config,
    ILogger log) : IStreamingBackend
{
    const byte EndOfTransmission = 4; // ^D: what closing a terminal's input means to the program reading it

    /// <summary>Where console sockets go: under the state dir, unless that is too deep for a socket path (sun_path).</summary>
    string ConsoleSocketDir
    {
        get
        {
            var dir = StateLayout.Exec(config.Current.StateDir);
            return dir.Length + 18 <= 107 ? dir : Path.Combine(Path.GetTempPath(), "crisharp-exec");
        }
    }

    public async Task<IStreamingProcess> ExecAsync(string containerId, IReadOnlyList<string> command, bool tty, bool stdin, CancellationToken ct)
    {
        if (command.Count == 0 || command[0].Length == 0)
            throw new InvalidRequestException("cmd", "the command to run is required");
        var (container, runtime) = targets.Resolve(containerId);
        var processFile = specs.WriteFile(container, command, tty);
        try
        {
            IStreamingProcess session = !tty ? StartPiped(runtime, container.Id, processFile, stdin)
                : SendsConsoleInForeground(runtime) ? await StartWithConsoleSocketAsync(runtime, container.Id, processFile, ConsoleSocketDir, stdin, ct).ConfigureAwait(false)
                : StartOnHostTerminal(runtime, container.Id, processFile, stdin);
            log.Debug("exec {Command} in container {ContainerId} started (tty {Tty}, stdin {Stdin})", command[0], container.Id, tty, stdin);
            return session;
        }
        catch
        {
            TryDelete(processFile);
            throw;
        }
    }

    /// <summary>crun hands out the pty master of a foreground exec; runc only of a detached one.</summary>
    internal static bool SendsConsoleInForeground(IOciRuntime runtime) =>
        Path.GetFileName(runtime.BinaryPath).StartsWith("crun", StringComparison.Ordinal);

    /// <summary>`exec` with stdin/stdout/stderr as pipes; <paramref name="processFile"/> is deleted when the session ends.</summary>
    internal static ExecSession StartPiped(IOciRuntime runtime, string containerId, string processFile, bool stdin)
    {
        var proc = ProcessRunner.Start(runtime.BinaryPath, ExecTargets.ExecArgs(runtime, containerId, processFile));
        // Our own cancellable views of the pipes; the originals close with the process.
        var stdout = ExecSession.Dup(proc.Stdout!, FileAccess.Read);
        var stderr = ExecSession.Dup(proc.Stderr!, FileAccess.Read);
        Stream? input = null;
        if (stdin) input = ExecSession.Dup(proc.Stdin!, FileAccess.Write);
        else proc.Stdin!.Dispose();
        return new ExecSession(proc, input, stdout, stderr, resize: null,
            closeStdin: () =>
            {
                input?.Dispose();
                proc.Stdin!.Dispose();
            },
            release: () => TryDelete(processFile));
    }

    /// <summary>A tty `exec` in the foreground on a pty of ours (runc).</summary>
    internal static ExecSession StartOnHostTerminal(IOciRuntime runtime, string containerId, string processFile, bool stdin)
    {
        var (master, slavePath) = Terminal.OpenPty();
        int slave = -1;
        try
        {
            // We hold the slave too until runc exits: the master then reads EIO (EOF) only once runc is gone.
            slave = Terminal.OpenSlave(slavePath);
            Terminal.MakeRaw(slave); // runc relays raw bytes; the container's own terminal does the line discipline
            var proc = ProcessRunner.StartOnTerminal(runtime.BinaryPath, ExecTargets.ExecArgs(runtime, containerId, processFile), slavePath);
            var heldSlave = slave;
            _ = proc.Exited.ContinueWith(_ => Pipes.Close(heldSlave), TaskScheduler.Default);
            slave = -1;
            var output = new FdStream(master, FileAccess.Read, ownsFd: false);
            // A descriptor per direction: the poller watches each for one thing at a time.
            var input = stdin ? new FdStream(Terminal.Duplicate(master), FileAccess.Write) : null;
            return new ExecSession(proc, input, output, null,
                resize: (w, h) =>
                {
                    Terminal.SetWindowSize(master, h, w);
                    if (!proc.Exited.IsCompleted) ProcessControl.Signal(proc.Pid, ProcessControl.SIGWINCH);
                },
                closeStdin: () => WriteEndOfTransmission(input),
                release: () =>
                {
                    Pipes.Close(master);
                    TryDelete(processFile);
                });
        }
        catch
        {
            Pipes.Close(slave);
            Pipes.Close(master);
            throw;
        }
    }

    /// <summary>A tty `exec` in the foreground whose pty master the runtime sends over a console socket in <paramref name="socketDir"/> (crun).</summary>
    internal static async Task<ExecSession> StartWithConsoleSocketAsync(IOciRuntime runtime, string containerId, string processFile, string socketDir, bool stdin, CancellationToken ct)
    {
        Directory.CreateDirectory(socketDir);
        using var console = ConsoleSocket.Listen(Path.Combine(socketDir, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)) + ".sock"));
        var proc = ProcessRunner.Start(runtime.BinaryPath, ExecTargets.ExecArgs(runtime, containerId, processFile, "--console-socket", console.Path));
        proc.Stdin!.Dispose();
        // The runtime's own output is only its error messages: keep them for a failed start, never let it block.
        var errors = new MemoryStream();
        var drain = Task.WhenAll(proc.Stdout!.CopyToAsync(Stream.Null, ct), CopyCappedAsync(proc.Stderr!, errors, 64 * 1024));
        int master;
        using (var gone = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            _ = proc.Exited.ContinueWith(_ =>
            {
                try { gone.Cancel(); }
                catch (ObjectDisposedException) { }
            }, TaskScheduler.Default);
            try
            {
                master = await console.ReceiveAsync(gone.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                await Task.WhenAny(drain, Task.Delay(500, CancellationToken.None)).ConfigureAwait(false);
                var code = await proc.Exited.ConfigureAwait(false);
                proc.Dispose();
                string message;
                lock (errors) message = System.Text.Encoding.UTF8.GetString(errors.ToArray()).Trim();
                throw new ExternalProgramException(runtime.BinaryPath, ExecTargets.ExecArgs(runtime, containerId, processFile), code, message,
                    $"{runtime.HandlerName}: exec in container {containerId}");
            }
            catch
            {
                ExecReaper.KillAll(proc);
                proc.Dispose();
                throw;
            }
        }
        var output = new FdStream(master, FileAccess.Read, ownsFd: false);
        // A descriptor per direction: the poller watches each for one thing at a time.
        var input = stdin ? new FdStream(Terminal.Duplicate(master), FileAccess.Write) : null;
        return new ExecSession(proc, input, output, null,
            resize: (w, h) => Terminal.SetWindowSize(master, h, w),
            closeStdin: () => WriteEndOfTransmission(input),
            release: () =>
            {
                Pipes.Close(master);
                TryDelete(processFile);
            });
    }

    static async Task CopyCappedAsync(Stream from, MemoryStream to, int cap)
    {
        var buffer = new byte[4096];
        try
        {
            int n;
            while ((n = await from.ReadAsync(buffer).ConfigureAwait(false)) > 0)
                lock (to)
                    if (to.Length < cap) to.Write(buffer, 0, (int)Math.Min(n, cap - to.Length));
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
    }

    static void WriteEndOfTransmission(Stream? terminal)
    {
        try
        {
            terminal?.Write([EndOfTransmission]);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
    }

    public async Task<IStreamingProcess> AttachAsync(string containerId, bool tty, bool stdin, CancellationToken ct)
    {
        var (container, _) = targets.Resolve(containerId);
        return await AttachSession.ConnectAsync(monitor, container, containers, tty, stdin, ct).ConfigureAwait(false);
    }

    public async Task<Stream> DialPodPortAsync(string podSandboxId, int port, CancellationToken ct)
    {
        var sandbox = sandboxes.Find(podSandboxId) ?? throw new ObjectNotFoundException($"pod sandbox {podSandboxId} not found");
        if (sandbox.State != SandboxState.Ready)
            throw new WrongStateException($"pod sandbox {sandbox.Id} is not ready");
        if (port is <= 0 or > 65535)
            throw new InvalidRequestException("port", $"{port} is not a TCP port");
        int fd;
        try
        {
            if (sandbox.NetNsPath.Length == 0)
            {
                fd = NetNamespace.ConnectLoopback(port); // host network: our own localhost
            }
            else
            {
                var connect = NetNamespace.ConnectLoopbackAsync(sandbox.NetNsPath, port);
                try
                {
                    fd = await connect.WaitAsync(ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // Nobody will take the socket the namespace thread may still hand over.
                    _ = connect.ContinueWith(t => Pipes.Close(t.Result), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
                    throw;
                }
            }
        }
        catch (LinuxException e)
        {
            throw new IOException($"pod sandbox {sandbox.Id}: cannot connect to localhost:{port}: {e.Message}", e);
        }
        var socket = new Socket(new SafeSocketHandle(fd, ownsHandle: true));
        return new NetworkStream(socket, ownsSocket: true);
    }

    static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
