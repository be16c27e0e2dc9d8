namespace CriSharp.Mechanism.Cdi;

/// <summary>
/// The CDI spec versions CriSharp reads and the lowest version each feature needs (SPEC.md's table, as the
/// reference specs-go/version.go checks it). A spec must declare at least the version its features need.
/// </summary>
internal static class CdiVersions
{
    /// <summary>Oldest first; 0.1.0 and 0.2.0 predate the earliest supported 0.3.0.</summary>
    public static readonly string[] Supported = ["0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0"];

    public const string Latest = "1.1.0";

    /// <summary>Null when the version is usable for this spec, else why not.</summary>
    public static string? Check(CdiSpec spec)
    {
        if (spec.Version.Length == 0) return "cdiVersion is missing";
        var declared = Normalize(spec.Version);
        var index = Array.IndexOf(Supported, declared);
        if (index < 0)
            return declared is "0.1.0" or "0.2.0"
                ? $"cdiVersion \"{spec.Version}\" is older than the earliest supported {Supported[0]}"
                : $"unknown cdiVersion \"{spec.Version}\" (supported: {string.Join(", ", Supported)})";
        var (required, feature) = Required(spec);
        return Array.IndexOf(Supported, required) > index
            ? $"cdiVersion \"{spec.Version}\" is too old: {feature} needs at least {required}"
            : null;
    }

    /// <summary>The version without an optional leading "v".</summary>
    public static string Normalize(string version) => version.StartsWith('v') ? version[1..] : version;

    /// <summary>The lowest version the spec's features need, and the newest such feature.</summary>
    public static (string Version, string Feature) Required(CdiSpec spec)
    {
        var edits = AllEdits(spec).ToList();
        if (edits.Any(e => e.NetDevices is { Count: > 0 })) return ("1.1.0", "netDevices");
        if (edits.Any(e => e.IntelRdt is { Schemata: not null } or { EnableMonitoring: true }))
            return ("1.1.0", "intelRdt schemata/enableMonitoring");
        if (edits.Any(e => e.IntelRdt is not null)) return ("0.7.0", "intelRdt");
        if (edits.Any(e => e.AdditionalGids is { Count: > 0 })) return ("0.7.0", "additionalGids");
        if (spec.Annotations is { Count: > 0 } || Devices(spec).Any(d => d.Annotations is { Count: > 0 }))
            return ("0.6.0", "annotations");
        var slash = spec.Kind.IndexOf('/');
        if (slash >= 0 && spec.Kind.AsSpan(slash + 1).Contains('.')) return ("0.6.0", "a '.' in the kind's class");
        if (Devices(spec).Any(d => d.Name.Length > 0 && char.IsAsciiDigit(d.Name[0])))
            return ("0.5.0", "a device name starting with a digit");
        if (edits.Any(e => e.DeviceNodes?.Any(n => n is { HostPath.Length: > 0 }) == true))
            return ("0.5.0", "deviceNodes hostPath");
        if (edits.Any(e => e.Mounts?.Any(m => m is { Type.Length: > 0 }) == true)) return ("0.4.0", "mount type");
        return (Supported[0], "the base spec");
    }

    static IEnumerable<CdiDevice> Devices(CdiSpec spec) => spec.Devices?.OfType<CdiDevice>() ?? [];

    /// <summary>The spec-level edits, then each device's.</summary>
    public static IEnumerable<CdiContainerEdits> AllEdits(CdiSpec spec)
    {
        if (spec.ContainerEdits is { } common) yield return common;
        foreach (var device in Devices(spec))
            if (device.ContainerEdits is { } edits) yield return edits;
    }
}
