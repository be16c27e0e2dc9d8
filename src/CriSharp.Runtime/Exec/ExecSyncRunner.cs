using System.Buffers;
using System.Globalization;
using CriSharp.Linux;
using CriSharp.Mechanism.Processes;
using CriSharp.Model;
using Serilog;

namespace CriSharp.Runtime.Exec;

/// <summary>What an ExecSync command did: its output (both streams together capped) and exit code.</summary>
public sealed record ExecSyncResult(byte[] Stdout, byte[] Stderr, int ExitCode);

/// <summary>An exec's timeout expired; the command and its children were killed (→ DeadlineExceeded).</summary>
public sealed class ExecTimeoutException(string message) : CriSharpException(ErrorKind.DeadlineExceeded, message);

/// <summary>
/// ExecSync, the kubelet's exec-probe path: `runtime exec --process` with stdout/stderr collected (together capped at
/// <see cref="MaxOutputBytes"/>, first come first kept; the excess is read and dropped), an optional timeout that kills the command and
/// everything it started, and a bounded drain so a background child holding stdout cannot hang the call.
/// One runtime process per call and nothing else on the fast path.
/// </summary>
public sealed class ExecSyncRunner(ExecTargets targets, ExecProcessSpecs specs, ILogger log)
{
    /// <summary>
    /// stdout + stderr kept per call: kubelet's and crictl's gRPC clients refuse a reply over 16 MiB, so the two
    /// streams together stay 1 KiB under it, leaving room for the reply's framing (field tags, lengths, exit code).
    /// </summary>
    public const int MaxOutputBytes = 16 * 1024 * 1024 - 1024;

    /// <summary>How long output may still arrive after the command's main process ended.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <param name="timeout">Zero or negative: no timeout (the call's cancellation still kills the command).</param>
    public async Task<ExecSyncResult> RunAsync(string containerId, IReadOnlyList<string> cmd, TimeSpan timeout, CancellationToken ct)
    {
        if (cmd.Count == 0 || cmd[0].Length == 0)
            throw new InvalidRequestException("cmd", "the command to run is required");
        var (container, runtime) = targets.Resolve(containerId);
        var processFile = specs.WriteFile(container, cmd, tty: false);
        try
        {
            using var proc = ProcessRunner.Start(runtime.BinaryPath, ExecTargets.ExecArgs(runtime, container.Id, processFile));
            proc.Stdin!.Dispose(); // the command reads EOF
            // Read through the epoll-driven FdStream: waiting on output holds no thread, and a read can be abandoned.
            using var outPipe = ExecSession.Dup(proc.Stdout!, FileAccess.Read);
            using var errPipe = ExecSession.Dup(proc.Stderr!, FileAccess.Read);
            var budget = new OutputBudget(MaxOutputBytes);
            var stdout = new CappedBuffer(budget);
            var stderr = new CappedBuffer(budget);
            var pumps = Task.WhenAll(stdout.FillAsync(outPipe), stderr.FillAsync(errPipe));

            using var deadline = timeout > TimeSpan.Zero ? new CancellationTokenSource(timeout) : new CancellationTokenSource();
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token);
            using var watchStop = new CancellationTokenSource();
            var watcher = ReleaseHeldOutputAsync(proc, container.Id, watchStop.Token);
            int exitCode;
            try
            {
                exitCode = await proc.Exited.WaitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                watchStop.Cancel();
                ExecReaper.KillAll(proc);
                await Task.WhenAny(pumps, Task.Delay(DrainTimeout, CancellationToken.None)).ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
                log.Information("exec {Command} in container {ContainerId} timed out after {Timeout}s; killed", Describe(cmd), container.Id, timeout.TotalSeconds);
                throw new ExecTimeoutException(
                    $"command {Describe(cmd)} in container {container.Id} timed out after {timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)}s and was killed");
            }
            finally
            {
                watchStop.Cancel();
                await watcher.ConfigureAwait(false);
            }
            // The runtime is gone; what a background child still holds open gets the drain bound, no more. Then the
            // holders are killed, as runc needs them to be before it exits at all (see ReleaseHeldOutputAsync).
            if (!pumps.IsCompleted && await Task.WhenAny(pumps, Task.Delay(DrainTimeout, CancellationToken.None)).ConfigureAwait(false) != pumps)
            {
                var killed = ExecReaper.KillHoldersOf(outPipe, errPipe);
                log.Debug("exec in container {ContainerId}: killed {Count} background processes still holding its output", container.Id, killed);
                await Task.WhenAny(pumps, Task.Delay(TimeSpan.FromMilliseconds(200), CancellationToken.None)).ConfigureAwait(false);
            }
            return new ExecSyncResult(stdout.ToArray(), stderr.ToArray(), exitCode);
        }
        finally
        {
            TryDelete(processFile);
        }
    }

    /// <summary>
    /// Slow path only (the runtime still runs after 100 ms): once the exec'd process is gone (the runtime has no
    /// live child) but the runtime keeps waiting for its output pipes to close (runc), the processes still holding
    /// them get <see cref="DrainTimeout"/> and are then killed, so the runtime exits with the command's exit code.
    /// </summary>
    async Task ReleaseHeldOutputAsync(RunningProcess proc, string containerId, CancellationToken stop)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        DateTime? childlessSince = null;
        try
        {
            while (true)
            {
                await Task.WhenAny(proc.Exited, Task.Delay(delay, stop)).ConfigureAwait(false);
                if (proc.Exited.IsCompleted || stop.IsCancellationRequested) return;
                if (ExecReaper.HasLiveChild(proc.Pid))
                {
                    childlessSince = null;
                    delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1000));
                    continue;
                }
                delay = TimeSpan.FromMilliseconds(100);
                childlessSince ??= DateTime.UtcNow;
                if (DateTime.UtcNow - childlessSince < DrainTimeout) continue;
                var killed = ExecReaper.KillOutputHolders(proc.Pid);
                if (killed > 0)
                    log.Debug("exec in container {ContainerId}: killed {Count} background processes holding its output after the command exited", containerId, killed);
                childlessSince = null;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.Warning("exec in container {ContainerId}: watching for held output failed: {Error}", containerId, e.Message);
        }
    }

    static string Describe(IReadOnlyList<string> cmd)
    {
        var line = string.Join(' ', cmd);
        return "`" + (line.Length > 200 ? line[..200] + "…" : line) + "`";
    }

    static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>The bytes both streams of one exec may still keep.</summary>
    sealed class OutputBudget(int bytes)
    {
        int _left = bytes;

        /// <summary>Takes up to <paramref name="wanted"/> bytes of the budget; returns how many were granted.</summary>
        public int Take(int wanted)
        {
            lock (this)
            {
                var granted = Math.Min(_left, wanted);
                _left -= granted;
                return granted;
            }
        }
    }

    /// <summary>Reads a stream to its end, keeping what the shared budget allows and dropping the rest.</summary>
    sealed class CappedBuffer(OutputBudget budget)
    {
        readonly MemoryStream _kept = new();

        public async Task FillAsync(Stream source)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
            try
            {
                int n;
                while ((n = await source.ReadAsync(buffer).ConfigureAwait(false)) > 0)
                {
                    var granted = budget.Take(n);
                    if (granted > 0)
                    {
                        lock (_kept) _kept.Write(buffer, 0, granted);
                    }
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
            {
                // The pipe broke: keep what was read.
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        public byte[] ToArray()
        {
            lock (_kept) return _kept.ToArray();
        }
    }
}
