using System.Diagnostics;
using System.Globalization;
using System.Text;
using CriSharp.Linux;
using CriSharp.Model;

namespace CriSharp.Mechanism.Processes;

/// <summary>What an external program did: its exit code and everything it wrote.</summary>
public sealed record ProcessResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>The program and arguments that produced this result (set by <see cref="ProcessRunner"/>).</summary>
    public string File { get; init; } = "";
    public IReadOnlyList<string> Arguments { get; init; } = [];

    /// <summary>Throws <see cref="ExternalProgramException"/> unless the exit code is 0; <paramref name="what"/> says what was being done.</summary>
    public ProcessResult ThrowIfFailed(string what)
    {
        if (ExitCode != 0) throw new ExternalProgramException(File, Arguments, ExitCode, Stderr, what);
        return this;
    }
}

/// <summary>An external program failed, timed out or could not be started.</summary>
public sealed class ExternalProgramException : CriSharpException
{
    public string File { get; }
    public IReadOnlyList<string> Arguments { get; }
    /// <summary>The exit code, or -1 when the program timed out or never started.</summary>
    public int ExitCode { get; }
    public string Stderr { get; }
    public bool TimedOut { get; }

    public ExternalProgramException(string file, IEnumerable<string> args, int exitCode, string stderr, string? what = null)
        : this(file, args, exitCode, stderr, false,
               $"{Prefix(what)}{Describe(file, args)} exited with code {exitCode}{StderrSuffix(stderr)}")
    {
    }

    ExternalProgramException(string file, IEnumerable<string> args, int exitCode, string stderr, bool timedOut, string message, Exception? inner = null)
        : base(ErrorKind.Internal, message, inner)
    {
        File = file;
        Arguments = args.ToArray();
        ExitCode = exitCode;
        Stderr = stderr;
        TimedOut = timedOut;
        RuntimeMetrics.ExternalProgramFailures.Add(1,
            new KeyValuePair<string, object?>("program", System.IO.Path.GetFileName(file)),
            new KeyValuePair<string, object?>("reason", timedOut ? "timeout" : exitCode == -1 && inner != null ? "start" : "exit"));
    }

    internal static ExternalProgramException Timeout(string file, IReadOnlyList<string> args, TimeSpan timeout, string stderr) =>
        new(file, args, -1, stderr, true,
            $"{Describe(file, args)} timed out after {timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)}s and was killed{StderrSuffix(stderr)}");

    internal static ExternalProgramException StartFailed(string file, IReadOnlyList<string> args, Exception inner) =>
        new(file, args, -1, "", false, $"{Describe(file, args)} could not be started: {inner.Message}", inner);

    static string Prefix(string? what) => string.IsNullOrEmpty(what) ? "" : what + ": ";

    static string StderrSuffix(string stderr)
    {
        var trimmed = stderr.Trim();
        if (trimmed.Length == 0) return "";
        if (trimmed.Length > 2000) trimmed = trimmed[..2000] + "…";
        return ": " + trimmed;
    }

    internal static string Describe(string file, IEnumerable<string> args)
    {
        var line = string.Join(' ', args.Prepend(file).Select(a => a.Length == 0 || a.Any(char.IsWhiteSpace) ? $"'{a}'" : a));
        return $"`{(line.Length > 300 ? line[..300] + "…" : line)}`";
    }
}

/// <summary>Extra knobs for <see cref="ProcessRunner.RunAsync(string, IEnumerable{string}, TimeSpan, CancellationToken, ProcessOptions)"/>.</summary>
public sealed record ProcessOptions
{
    /// <summary>Variables added to (or replacing those in) the inherited environment.</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
    /// <summary>Written to the child's stdin, which is then closed; null gives it an empty stdin.</summary>
    public string? Stdin { get; init; }
    public string? WorkingDirectory { get; init; }
    /// <summary>Descriptors the child inherits under the same numbers (e.g. conmon's sync pipe); they stay close-on-exec in this process.</summary>
    public IReadOnlyList<int>? InheritedFds { get; init; }
    /// <summary>How long to keep reading stdout/stderr after the program exits; a daemonised grandchild may hold them open forever.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// The one way CriSharp starts external programs (runc, crun, conmon, CNI plugins): with a timeout,
/// captured output, cancellation, and the whole process tree killed when either fires.
/// </summary>
public static class ProcessRunner
{
    // Spawns that hand a descriptor to a child clear its FD_CLOEXEC for the moment of the spawn; any other spawn
    // at that moment would inherit it too (and, e.g. as a daemon, hold a sync pipe open forever). Ordinary
    // spawns therefore share this lock, inheriting spawns take it exclusively.
    static readonly ReaderWriterLockSlim SpawnLock = new();

    static ProcessRunner()
    {
        // Children (conmon, and through it containers) must only get the descriptors we pass on purpose.
        CriSharp.Linux.Pipes.MarkInheritedCloseOnExec();
    }

    public static Task<ProcessResult> RunAsync(
        string file, IEnumerable<string> args, TimeSpan timeout, CancellationToken ct,
        IReadOnlyDictionary<string, string>? env = null, string? stdin = null) =>
        RunAsync(file, args, timeout, ct, new ProcessOptions { Environment = env, Stdin = stdin });

    public static async Task<ProcessResult> RunAsync(
        string file, IEnumerable<string> args, TimeSpan timeout, CancellationToken ct, ProcessOptions options)
    {
        var argList = args.ToArray();
        ct.ThrowIfCancellationRequested();
        var psi = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in argList) psi.ArgumentList.Add(a);
        if (options.WorkingDirectory is not null) psi.WorkingDirectory = options.WorkingDirectory;
        if (options.Environment is not null)
            foreach (var (k, v) in options.Environment) psi.Environment[k] = v;

        using var process = new Process { StartInfo = psi };
        Start(process, file, argList, options.InheritedFds);

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var drainCts = new CancellationTokenSource();
        var stdoutTask = PumpAsync(process.StandardOutput, stdout, drainCts.Token);
        var stderrTask = PumpAsync(process.StandardError, stderr, drainCts.Token);
        var stdinTask = FeedStdinAsync(process.StandardInput, options.Stdin);

        using var timeoutCts = new CancellationTokenSource(timeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeoutCts.Token);
        try
        {
            await process.WaitForExitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            KillTree(process);
            await DrainAsync(stdoutTask, stderrTask, drainCts, options.DrainTimeout).ConfigureAwait(false);
            var err = Snapshot(stderr);
            if (ct.IsCancellationRequested)
                throw new OperationCanceledException(
                    $"{ExternalProgramException.Describe(file, argList)} was cancelled and killed (timeout was {timeout.TotalSeconds:0.###}s)", ct);
            throw ExternalProgramException.Timeout(file, argList, timeout, err);
        }

        // The program has exited, but a grandchild (conmon's daemon) may still hold stdout/stderr: read what
        // arrives within the drain bound, then stop waiting.
        await DrainAsync(stdoutTask, stderrTask, drainCts, options.DrainTimeout).ConfigureAwait(false);
        await stdinTask.ConfigureAwait(false);
        return new ProcessResult(process.ExitCode, Snapshot(stdout), Snapshot(stderr)) { File = file, Arguments = argList };
    }

    /// <summary>
    /// Starts a program whose stdio the caller drives (exec sessions): raw pipe streams, no timeout, no capture.
    /// The caller owns the result: it must await <see cref="RunningProcess.Exited"/> or kill it, then dispose it.
    /// </summary>
    public static RunningProcess Start(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null)
    {
        var argList = args.ToArray();
        var psi = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in argList) psi.ArgumentList.Add(a);
        if (env is not null)
            foreach (var (k, v) in env) psi.Environment[k] = v;
        var process = new Process { StartInfo = psi };
        try
        {
            Start(process, file, argList, null);
        }
        catch
        {
            process.Dispose();
            throw;
        }
        return new PipedProcess(process, file, argList);
    }

    /// <summary>
    /// Starts a program in a new session with the pty slave <paramref name="terminalPath"/> as its controlling
    /// terminal and stdin/stdout/stderr (what runc needs to run an exec in the foreground with a tty).
    /// </summary>
    public static RunningProcess StartOnTerminal(string file, IEnumerable<string> args, string terminalPath)
    {
        var argList = args.ToArray();
        SpawnLock.EnterReadLock();
        int pid;
        try
        {
            pid = Spawn.OnTerminal(file, argList, terminalPath);
        }
        catch (LinuxException e)
        {
            throw ExternalProgramException.StartFailed(file, argList, e);
        }
        finally
        {
            SpawnLock.ExitReadLock();
        }
        return new SpawnedProcess(pid, file, argList);
    }

    static void Start(Process process, string file, string[] args, IReadOnlyList<int>? inheritedFds)
    {
        var exclusive = inheritedFds is { Count: > 0 };
        if (exclusive) SpawnLock.EnterWriteLock(); else SpawnLock.EnterReadLock();
        try
        {
            if (exclusive)
                foreach (var fd in inheritedFds!) Pipes.SetInheritable(fd, true);
            try
            {
                process.Start();
            }
            finally
            {
                // The child has its copy by now (Start returns after exec); ours goes back to close-on-exec.
                if (exclusive)
                    foreach (var fd in inheritedFds!) Pipes.SetInheritable(fd, false);
            }
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw ExternalProgramException.StartFailed(file, args, e);
        }
        finally
        {
            if (exclusive) SpawnLock.ExitWriteLock(); else SpawnLock.ExitReadLock();
        }
    }

    static async Task PumpAsync(StreamReader reader, StringBuilder sink, CancellationToken ct)
    {
        var buffer = new char[4096];
        try
        {
            int n;
            while ((n = await reader.ReadAsync(buffer.AsMemory(), ct).ConfigureAwait(false)) > 0)
                lock (sink) sink.Append(buffer, 0, n);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // Drain bound reached or pipe torn down: keep what was read.
        }
    }

    static async Task FeedStdinAsync(StreamWriter writer, string? stdin)
    {
        try
        {
            if (!string.IsNullOrEmpty(stdin)) await writer.WriteAsync(stdin).ConfigureAwait(false);
            writer.Close();
        }
        catch (IOException)
        {
            // The program exited without reading its input; its exit code tells the story.
        }
    }

    static async Task DrainAsync(Task stdoutTask, Task stderrTask, CancellationTokenSource drainCts, TimeSpan bound)
    {
        var both = Task.WhenAll(stdoutTask, stderrTask);
        if (await Task.WhenAny(both, Task.Delay(bound)).ConfigureAwait(false) != both)
        {
            drainCts.Cancel();
            await Task.WhenAny(both, Task.Delay(TimeSpan.FromMilliseconds(200))).ConfigureAwait(false);
        }
    }

    static void KillTree(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
            // Already gone.
        }
    }

    static string Snapshot(StringBuilder sb)
    {
        lock (sb) return sb.ToString();
    }
}

/// <summary>A program started by <see cref="ProcessRunner.Start"/> or <see cref="ProcessRunner.StartOnTerminal"/>.</summary>
public abstract class RunningProcess : IDisposable
{
    protected RunningProcess(int pid, string file, IReadOnlyList<string> args)
    {
        Pid = pid;
        File = file;
        Arguments = args;
    }

    public int Pid { get; }
    public string File { get; }
    public IReadOnlyList<string> Arguments { get; }
    /// <summary>Null when the program runs on a terminal instead of pipes.</summary>
    public abstract Stream? Stdin { get; }
    public abstract Stream? Stdout { get; }
    public abstract Stream? Stderr { get; }
    /// <summary>The exit code once the program has exited (128 + signal when a signal ended it).</summary>
    public abstract Task<int> Exited { get; }
    /// <summary>SIGKILLs the program and its descendants; nothing if it has exited.</summary>
    public abstract void KillTree();
    public abstract void Dispose();
}

sealed class PipedProcess : RunningProcess
{
    readonly Process _process;

    public PipedProcess(Process process, string file, IReadOnlyList<string> args) : base(process.Id, file, args)
    {
        _process = process;
        Exited = WaitAsync(process);
    }

    static async Task<int> WaitAsync(Process process)
    {
        await process.WaitForExitAsync().ConfigureAwait(false);
        return process.ExitCode;
    }

    public override Stream Stdin => _process.StandardInput.BaseStream;
    public override Stream Stdout => _process.StandardOutput.BaseStream;
    public override Stream Stderr => _process.StandardError.BaseStream;
    public override Task<int> Exited { get; }

    public override void KillTree()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
            // Already gone.
        }
    }

    public override void Dispose()
    {
        foreach (var s in new Func<Stream>[] { () => _process.StandardInput.BaseStream, () => _process.StandardOutput.BaseStream, () => _process.StandardError.BaseStream })
        {
            try { s().Dispose(); }
            catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException) { }
        }
        _process.Dispose();
    }
}

sealed class SpawnedProcess : RunningProcess
{
    public SpawnedProcess(int pid, string file, IReadOnlyList<string> args) : base(pid, file, args)
    {
        // waitpid blocks: a dedicated thread, not the pool's.
        Exited = Task.Factory.StartNew(() => Spawn.WaitForExit(pid), CancellationToken.None,
            TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    public override Stream? Stdin => null;
    public override Stream? Stdout => null;
    public override Stream? Stderr => null;
    public override Task<int> Exited { get; }

    public override void KillTree()
    {
        if (Exited.IsCompleted) return;
        foreach (var pid in ProcessTable.Snapshot().DescendantsOf(Pid)) ProcessControl.Signal(pid, ProcessControl.SIGKILL);
        if (!Exited.IsCompleted) ProcessControl.Signal(Pid, ProcessControl.SIGKILL);
    }

    public override void Dispose()
    {
        // Exited reaps the child; nothing else is held.
    }
}
