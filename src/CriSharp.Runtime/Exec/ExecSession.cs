using CriSharp.Linux;
using CriSharp.Mechanism.Processes;
using CriSharp.Streaming;

namespace CriSharp.Runtime.Exec;

/// <summary>
/// A streaming exec: the OCI runtime's `exec` process with its stdio as pipes, or a terminal (see
/// <see cref="RuntimeStreamingBackend"/> for which). Disposing it before the command ended kills the command and
/// everything it started.
/// </summary>
sealed class ExecSession : IStreamingProcess
{
    readonly RunningProcess _runtime;
    readonly Action<ushort, ushort>? _resize;
    readonly Action _closeStdin;
    readonly Action _release;
    int _disposed;

    public ExecSession(RunningProcess runtime, Stream? stdin, Stream stdout, Stream? stderr,
        Action<ushort, ushort>? resize, Action closeStdin, Action release)
    {
        _runtime = runtime;
        Stdin = stdin;
        Stdout = stdout;
        Stderr = stderr;
        _resize = resize;
        _closeStdin = closeStdin;
        _release = release;
    }

    public Stream? Stdin { get; }
    public Stream Stdout { get; }
    public Stream? Stderr { get; }
    public Task<int> Exited => _runtime.Exited;

    public Task ResizeAsync(ushort width, ushort height, CancellationToken ct)
    {
        if (_resize != null && !Exited.IsCompleted && Volatile.Read(ref _disposed) == 0) _resize(width, height);
        return Task.CompletedTask;
    }

    public void CloseStdin()
    {
        if (Volatile.Read(ref _disposed) == 0) _closeStdin();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (!_runtime.Exited.IsCompleted)
        {
            ExecReaper.KillAll(_runtime);
            await Task.WhenAny(_runtime.Exited, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        }
        Stdin?.Dispose();
        Stdout.Dispose();
        Stderr?.Dispose();
        _release();
        _runtime.Dispose();
    }

    /// <summary>A dup of a pipe end the runtime process owns, as a cancellable <see cref="FdStream"/>.</summary>
    internal static FdStream Dup(Stream pipe, FileAccess access)
    {
        var handle = ((System.IO.Pipes.PipeStream)pipe).SafePipeHandle;
        return new FdStream(Terminal.Duplicate((int)handle.DangerousGetHandle()), access);
    }
}
