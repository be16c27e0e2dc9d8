using System.Collections.Concurrent;

namespace CriSharp.Runtime;

/// <summary>Per-object async locks by id, so slow work on one object never blocks another.</summary>
public sealed class KeyedLock
{
    readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);

    public async Task<IDisposable> AcquireAsync(string key, CancellationToken ct = default)
    {
        var s = _locks.GetOrAdd(key, _ => new SemaphoreSlim(1, 1));
        await s.WaitAsync(ct);
        return new Releaser(s);
    }

    /// <summary>Drops the lock object of a removed id (safe: a later acquire makes a new one).</summary>
    public void Forget(string key) => _locks.TryRemove(key, out _);

    sealed class Releaser(SemaphoreSlim s) : IDisposable
    {
        int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) s.Release();
        }
    }
}
