namespace CriSharp.Mechanism.Cdi;

/// <summary>
/// The devices of one scan of the spec directories. A device in a later directory overrides the same qualified
/// device of an earlier one; two files of the deciding directory defining it is a conflict.
/// </summary>
internal sealed class CdiSpecIndex
{
    readonly Dictionary<string, List<(int Dir, CdiSpecFile Spec)>> definitions = new(StringComparer.Ordinal);

    public IReadOnlyList<string> Dirs { get; }

    /// <summary>Files (or directories) that could not be used, with why.</summary>
    public IReadOnlyList<(string Path, string Reason)> Broken { get; }

    public CdiSpecIndex(IReadOnlyList<string> dirs, IEnumerable<(int Dir, CdiSpecFile Spec)> specs, IReadOnlyList<(string Path, string Reason)> broken)
    {
        (Dirs, Broken) = (dirs, broken);
        foreach (var (dir, spec) in specs)
        {
            foreach (var name in spec.Devices.Keys)
            {
                var qualified = $"{spec.Kind}={name}";
                if (!definitions.TryGetValue(qualified, out var list)) definitions[qualified] = list = [];
                list.Add((dir, spec));
            }
        }
    }

    /// <summary>The spec that defines the device; null when none does; <paramref name="conflict"/> set when two files of the deciding directory do.</summary>
    public CdiSpecFile? Find(string qualified, out (string First, string Second)? conflict)
    {
        conflict = null;
        if (!definitions.TryGetValue(qualified, out var list)) return null;
        var top = list.Max(d => d.Dir);
        var winners = list.Where(d => d.Dir == top).ToList();
        if (winners.Count > 1) conflict = (winners[0].Spec.Path, winners[1].Spec.Path);
        return winners[0].Spec;
    }
}
