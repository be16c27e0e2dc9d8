using CriSharp.Model;

namespace CriSharp.Mechanism.Cdi;

/// <summary>
/// The CDI devices defined by the spec files (*.json, *.yaml) directly in a list of directories, given in increasing
/// priority. Files are re-read when they change, checked on each <see cref="Resolve"/> that asks for a device; the
/// file system is not touched otherwise. Thread-safe.
/// </summary>
public sealed class CdiRegistry(Func<IReadOnlyList<string>> specDirs)
{
    /// <summary>The annotation-key prefix of CDI device requests (the reference's AnnotationPrefix).</summary>
    public const string AnnotationPrefix = "cdi.k8s.io/";

    readonly Lock gate = new();
    readonly CdiSpecCache cache = new();

    /// <summary>How many times a spec file was parsed (for tests).</summary>
    internal int Parses { get { lock (gate) return cache.Parses; } }

    /// <summary>
    /// Resolves qualified device names ("vendor.com/class=name"; repeats ignored, first order kept) to the edits to
    /// apply. Throws <see cref="InvalidRequestException"/> (field config.CDI_devices) for a malformed name, and
    /// <see cref="WrongStateException"/> for a device that is unknown, defined twice in one directory, or needs edits
    /// CriSharp does not apply (intelRdt, netDevices).
    /// </summary>
    public CdiResolution Resolve(IReadOnlyList<string> qualifiedNames)
    {
        var names = qualifiedNames.Distinct(StringComparer.Ordinal).ToList();
        if (names.Count == 0) return CdiResolution.Empty;
        foreach (var name in names)
            if (CdiNames.TryParseQualified(name, out var error) is null)
                throw new InvalidRequestException("config.CDI_devices", error!);

        var dirs = specDirs();
        CdiSpecIndex index;
        lock (gate) index = cache.Scan(dirs);
        return Build(index, names);
    }

    static CdiResolution Build(CdiSpecIndex index, List<string> names)
    {
        var problems = new List<string>();
        var unknown = new List<string>();
        var specEdits = new List<CdiEditSet>();
        var deviceEdits = new List<CdiEditSet>();
        var specsSeen = new HashSet<CdiSpecFile>();
        foreach (var name in names)
        {
            var spec = index.Find(name, out var conflict);
            if (spec is null) { unknown.Add(name); continue; }
            if (conflict is var (first, second))
            {
                problems.Add($"CDI device {name} is defined by both {first} and {second}");
                continue;
            }
            var device = spec.Devices[CdiNames.TryParseQualified(name, out _)!.Value.Name];
            if ((Unsupported(spec.Spec.ContainerEdits) ?? Unsupported(device.ContainerEdits)) is { } edit)
            {
                problems.Add($"CDI device {name} (spec {spec.Path}) needs {edit}, which CriSharp does not apply");
                continue;
            }
            if (specsSeen.Add(spec) && spec.Spec.ContainerEdits is { } common)
                specEdits.Add(new CdiEditSet(name, spec.Path, common, SpecLevel: true));
            if (device.ContainerEdits is { } own)
                deviceEdits.Add(new CdiEditSet(name, spec.Path, own, SpecLevel: false));
        }
        if (unknown.Count > 0) problems.Insert(0, UnknownMessage(index, unknown));
        if (problems.Count > 0) throw new WrongStateException(string.Join("; ", problems));
        return new CdiResolution(names, [.. specEdits, .. deviceEdits]);
    }

    /// <summary>The edit kind CriSharp cannot apply, or null.</summary>
    internal static string? Unsupported(CdiContainerEdits? edits) =>
        edits is null ? null
        : edits.IntelRdt is not null ? "intelRdt"
        : edits.NetDevices is { Count: > 0 } ? "netDevices"
        : null;

    static string UnknownMessage(CdiSpecIndex index, List<string> unknown)
    {
        var dirs = index.Dirs.Count == 0 ? "no directories" : string.Join(", ", index.Dirs);
        var message = $"unknown CDI device{(unknown.Count > 1 ? "s" : "")} {string.Join(", ", unknown)} (searched {dirs})";
        if (index.Broken.Count > 0)
            message += "; spec files that could not be read: " + string.Join("; ", index.Broken.Select(b => $"{b.Path}: {b.Reason}"));
        return message;
    }

    /// <summary>
    /// The devices requested by "cdi.k8s.io/..." annotations: keys in ordinal order, each value a comma-separated list of
    /// qualified names (trimmed, empty entries skipped). Names are not checked here; <see cref="Resolve"/> does.
    /// </summary>
    public static IReadOnlyList<string> DevicesFromAnnotations(IReadOnlyDictionary<string, string> annotations) =>
        annotations
            .Where(a => a.Key.StartsWith(AnnotationPrefix, StringComparison.Ordinal))
            .OrderBy(a => a.Key, StringComparer.Ordinal)
            .SelectMany(a => a.Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            .ToList();
}
