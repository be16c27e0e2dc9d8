namespace CriSharp.Images.Registry;

/// <summary>
/// Cancels <see cref="Token"/> when a progress window passes with fewer than the required bytes,
/// so a server that sends nothing at all (not even headers) is caught as well as a slow trickle.
/// </summary>
internal sealed class StallDetector : IDisposable
{
    private readonly object _gate = new();
    private readonly CancellationTokenSource _cts = new();
    private readonly Timer _timer;
    private readonly long _required;
    private long _windowBytes;
    private bool _disposed;

    public StallDetector(TimeSpan window, long requiredBytesPerWindow)
    {
        Window = window;
        _required = requiredBytesPerWindow;
        _timer = new Timer(_ => Check(), null, window, window);
    }

    public TimeSpan Window { get; }
    public CancellationToken Token => _cts.Token;
    /// <summary>True once a window came up short.</summary>
    public bool Stalled { get; private set; }
    /// <summary>Bytes that arrived in the window that came up short.</summary>
    public long BytesInStalledWindow { get; private set; }
    /// <summary>Bytes a window must bring.</summary>
    public long RequiredBytes => _required;

    /// <summary>Counts bytes that arrived.</summary>
    public void Report(long bytes) => Interlocked.Add(ref _windowBytes, bytes);

    private void Check()
    {
        lock (_gate)
        {
            if (_disposed || Stalled) return;
            var got = Interlocked.Exchange(ref _windowBytes, 0);
            if (got >= _required) return;
            BytesInStalledWindow = got;
            Stalled = true;
            _cts.Cancel();
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _timer.Dispose();
            _cts.Dispose();
        }
    }
}
