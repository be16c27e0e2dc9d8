using CriSharp.Mechanism;
using CriSharp.Mechanism.Oci;
using CriSharp.Model;

namespace CriSharp.Runtime.Spec;

/// <summary>OCI spec generation: capabilities and seccomp.</summary>
public static partial class OciSpecGenerator
{
    /// <summary>
    /// Default 14, then add (ALL first), then drop (ALL first), as containerd orders them; privileged gets every
    /// capability the kernel knows and this process holds in its bounding set. A non-root process keeps the bounding set but only its ambient capabilities
    /// are effective/permitted, as containerd and Docker do.
    /// </summary>
    internal static OciCapabilities Capabilities(SecuritySpec security, uint uid, HostFeatures host)
    {
        const string field = "linux.security_context.capabilities";
        // "Every capability" (privileged, add ALL) is every one the kernel knows that this process can pass on.
        var known = OciDefaults.AllCapabilities.Take(Math.Clamp(host.LastCapability + 1, 0, OciDefaults.AllCapabilities.Count))
            .Where((_, bit) => host.HasBoundingCapability(bit)).ToList();
        List<string> set;
        if (security.Privileged)
        {
            set = known;
        }
        else
        {
            set = [.. DefaultCapabilities];
            bool IsAll(string c) => c.Equals("ALL", StringComparison.OrdinalIgnoreCase);
            var adds = security.AddCapabilities.Where(c => !IsAll(c)).Select(c => CanonicalCapability(c, field)).ToList();
            var drops = security.DropCapabilities.Where(c => !IsAll(c)).Select(c => CanonicalCapability(c, field)).ToList();
            if (security.AddCapabilities.Any(IsAll)) set = [.. known];
            if (security.DropCapabilities.Any(IsAll)) set.Clear();
            foreach (var cap in adds) if (!set.Contains(cap)) set.Add(cap);
            set.RemoveAll(drops.Contains);
        }
        var ambient = security.AddAmbientCapabilities
            .Select(c => CanonicalCapability(c, "linux.security_context.capabilities.add_ambient_capabilities")).Distinct().ToList();
        // An ambient capability must also be bounding, permitted and inheritable or the kernel refuses to raise it.
        foreach (var cap in ambient) if (!set.Contains(cap)) set.Add(cap);

        return new OciCapabilities
        {
            Bounding = [.. set],
            Effective = uid == 0 ? [.. set] : [.. ambient],
            Permitted = uid == 0 ? [.. set] : [.. ambient],
            // Inheritable stays empty apart from ambient ones (CVE-2022-24769).
            Inheritable = [.. ambient],
            Ambient = [.. ambient],
        };
    }

    static string CanonicalCapability(string name, string field)
    {
        var upper = name.Trim().ToUpperInvariant();
        if (!upper.StartsWith("CAP_", StringComparison.Ordinal)) upper = "CAP_" + upper;
        return OciDefaults.AllCapabilities.Contains(upper) ? upper : throw new SpecException(field, $"unknown capability \"{name}\"");
    }

    static OciSeccomp? Seccomp(SecuritySpec security, List<string> bounding)
    {
        const string field = "linux.security_context.seccomp";
        // A privileged container runs unconfined whatever profile it names (Kubernetes' rule; CRI-O and containerd).
        if (security.Privileged) return null;
        return security.Seccomp.Kind switch
        {
            ProfileKind.Localhost => SeccompProfiles.LoadLocalhost(security.Seccomp.LocalhostRef, field),
            ProfileKind.RuntimeDefault => SeccompProfiles.RuntimeDefault(bounding),
            _ => null,
        };
    }
}
