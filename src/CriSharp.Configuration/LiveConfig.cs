namespace CriSharp.Configuration;

/// <summary>Holds the current effective config; SIGHUP swaps in a re-read one.</summary>
public sealed class LiveConfig(DaemonConfig initial, ConfigSources sources)
{
    volatile DaemonConfig _current = initial;

    public DaemonConfig Current => _current;
    public ConfigSources Sources { get; } = sources;

    /// <summary>Raised after a reload with (old, new).</summary>
    public event Action<DaemonConfig, DaemonConfig>? Reloaded;

    /// <summary>Re-reads the sources; on error the current config stays and the exception propagates.</summary>
    public DaemonConfig Reload()
    {
        var next = ConfigLoader.Load(Sources);
        var old = _current;
        _current = next;
        Reloaded?.Invoke(old, next);
        return next;
    }
}
