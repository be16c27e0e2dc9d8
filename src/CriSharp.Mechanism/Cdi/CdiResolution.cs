namespace CriSharp.Mechanism.Cdi;

/// <summary>One containerEdits block to apply, with where it came from for messages.</summary>
/// <param name="Device">The qualified device it is applied for (for spec-level edits: the first requested device of that spec).</param>
/// <param name="SpecFile">The spec file that holds it.</param>
/// <param name="Edits">The edits; shared with the registry's cache, never modified.</param>
/// <param name="SpecLevel">True for a spec's own containerEdits (applied once for all its devices), false for a device's.</param>
public sealed record CdiEditSet(string Device, string SpecFile, CdiContainerEdits Edits, bool SpecLevel);

/// <summary>What a set of requested CDI devices resolved to: the edits to apply, in order.</summary>
public sealed class CdiResolution(IReadOnlyList<string> devices, IReadOnlyList<CdiEditSet> edits)
{
    /// <summary>Nothing requested, nothing to do.</summary>
    public static CdiResolution Empty { get; } = new([], []);

    /// <summary>The resolved qualified device names, first-requested order, no repeats.</summary>
    public IReadOnlyList<string> Devices { get; } = devices;

    /// <summary>Every involved spec's own edits once (in the order the specs are first needed), then each device's edits.</summary>
    public IReadOnlyList<CdiEditSet> Edits { get; } = edits;
}
