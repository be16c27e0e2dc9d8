using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Text;

namespace CriSharp.Streaming.Tests.Fakes;

/// <summary>
/// An in-memory process for the fake backend: the server sees ordinary stdin/stdout/stderr streams, and a
/// small program (chosen by the command) runs against the other ends of the pipes.
/// </summary>
sealed class FakeProcess : IStreamingProcess
{
    readonly Pipe _stdin = new();
    readonly Pipe _stdout = new();
    readonly Pipe? _stderr;
    readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly CancellationTokenSource _killed = new();

    public FakeProcess(bool tty, bool stdin)
    {
        Tty = tty;
        Stdin = stdin ? _stdin.Writer.AsStream() : null;
        if (!stdin) _stdin.Writer.Complete();
        Stdout = _stdout.Reader.AsStream();
        if (!tty)
        {
            _stderr = new Pipe();
            Stderr = _stderr.Reader.AsStream();
        }
    }

    public bool Tty { get; }
    public Stream? Stdin { get; }
    public Stream Stdout { get; }
    public Stream? Stderr { get; }
    public Task<int> Exited => _exited.Task;
    public ConcurrentQueue<(ushort Width, ushort Height)> Resizes { get; } = new();
    public TaskCompletionSource<(ushort Width, ushort Height)> FirstResize { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public bool StdinClosed { get; private set; }
    public bool Disposed { get; private set; }

    /// <summary>The program's view: what the client typed.</summary>
    public Stream ProgramStdin => _stdin.Reader.AsStream();
    public CancellationToken Killed => _killed.Token;

    public Task ResizeAsync(ushort width, ushort height, CancellationToken ct)
    {
        Resizes.Enqueue((width, height));
        FirstResize.TrySetResult((width, height));
        return Task.CompletedTask;
    }

    public void CloseStdin()
    {
        StdinClosed = true;
        _stdin.Writer.Complete();
    }

    public async Task WriteStdoutAsync(string text) => await _stdout.Writer.WriteAsync(Encoding.UTF8.GetBytes(text));
    public async Task WriteStdoutAsync(byte[] bytes) => await _stdout.Writer.WriteAsync(bytes);

    /// <summary>Writes to stderr, or (TTY) to the terminal, which is stdout.</summary>
    public async Task WriteStderrAsync(string text) =>
        await (_stderr?.Writer ?? _stdout.Writer).WriteAsync(Encoding.UTF8.GetBytes(text));

    /// <summary>The program ends: its output closes and the exit code is known.</summary>
    public void Exit(int code)
    {
        _stdout.Writer.Complete();
        _stderr?.Writer.Complete();
        _exited.TrySetResult(code);
    }

    public ValueTask DisposeAsync()
    {
        Disposed = true;
        _killed.Cancel();
        _stdout.Writer.Complete();
        _stderr?.Writer.Complete();
        _exited.TrySetResult(137);
        return ValueTask.CompletedTask;
    }
}
