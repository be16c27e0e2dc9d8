namespace CriSharp.Streaming;

/// <summary>
/// Ends a session that has been silent for the configured idle timeout: every frame or message in either
/// direction resets the clock, as the kubelet's streaming server does.
/// </summary>
sealed class IdleWatch
{
    readonly TimeSpan _timeout;
    readonly TimeProvider _time;
    long _lastActivity;

    public IdleWatch(TimeSpan timeout, TimeProvider time)
    {
        _timeout = timeout;
        _time = time;
        Touch();
    }

    public void Touch() => Volatile.Write(ref _lastActivity, _time.GetTimestamp());

    /// <summary>Completes when the session has been idle for the timeout, or when <paramref name="ct"/> is cancelled.</summary>
    public async Task WaitForIdleAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var idleFor = _time.GetElapsedTime(Volatile.Read(ref _lastActivity));
            if (idleFor >= _timeout) return;
            try
            {
                await Task.Delay(_timeout - idleFor, _time, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
