using CriSharp.Configuration;
using CriSharp.Model;

namespace CriSharp.Mechanism.Oci;

/// <summary>
/// One OCI runtime handler as the lifecycle drives it: the seam between the engine's verbs and runc/crun.
/// <see cref="OciRuntime"/> runs the real binary; unit tests of the lifecycle use a fake.
/// </summary>
public interface IOciRuntime
{
    string HandlerName { get; }

    string BinaryPath { get; }

    string RootDir { get; }

    /// <summary>The global arguments every invocation carries; conmon gets them as --runtime-arg.</summary>
    IReadOnlyList<string> GlobalArgs { get; }

    Task StartAsync(string id, CancellationToken ct = default);

    /// <summary>A container that is already stopped or gone is not an error.</summary>
    Task KillAsync(string id, int signal, bool all, CancellationToken ct = default);

    /// <summary>A container that does not exist is not an error.</summary>
    Task DeleteAsync(string id, bool force, CancellationToken ct = default);

    /// <summary>Null when the runtime does not know the container.</summary>
    Task<OciState?> StateAsync(string id, CancellationToken ct = default);

    Task UpdateAsync(string id, string resourcesJsonPath, CancellationToken ct = default);

    Task<IReadOnlyList<string>> ListAsync(CancellationToken ct = default);

    /// <summary>Throws <see cref="HandlerUnavailableException"/> when the handler's binary is missing.</summary>
    void EnsureAvailable();
}

/// <summary>The one registry of runtime handlers: every handler the live config names, by name.</summary>
public interface IOciRuntimes
{
    /// <summary>The handler; <see cref="HandlerUnavailableException"/> when the config no longer names it.</summary>
    IOciRuntime For(string handler);

    /// <summary>Every configured handler (cleanup that does not know which one made a leftover).</summary>
    IEnumerable<IOciRuntime> All();
}

/// <summary>The handlers of the live config, each run through its binary.</summary>
public sealed class OciRuntimes(LiveConfig config) : IOciRuntimes
{
    public IOciRuntime For(string handler)
    {
        var h = config.Current.Runtimes.GetValueOrDefault(handler)
            ?? throw new HandlerUnavailableException(handler, "it is no longer configured");
        return new OciRuntime(handler, h.Path, h.RootDir);
    }

    public IEnumerable<IOciRuntime> All() =>
        config.Current.Runtimes.Select(r => (IOciRuntime)new OciRuntime(r.Key, r.Value.Path, r.Value.RootDir)).ToList();
}
