using CriSharp.Model;

namespace CriSharp.Mechanism.Namespaces;

/// <summary>A pod sysctl that may not be set: the key as given and why.</summary>
public sealed class SysctlException(string key, string message)
    : CriSharpException(ErrorKind.InvalidArgument, $"sysctl \"{Printable(key)}\": {message}")
{
    public string Key { get; } = key;

    static string Printable(string s) =>
        new(s.Select(c => char.IsControl(c) ? '?' : c).ToArray());
}

/// <summary>Which namespace a pod sysctl belongs to.</summary>
public enum SysctlNamespace { Ipc, Network }

/// <summary>A validated sysctl: dotted name, the /proc/sys-relative path and the namespace it lives in.</summary>
public sealed record ValidatedSysctl(string Name, string ProcPath, string Value, SysctlNamespace Namespace);

/// <summary>
/// Pod sysctls: only namespaced ones, only in namespaces the pod owns, and no characters that could smuggle
/// a second setting or a path into the write (CVE-2022-0811).
/// </summary>
public static class SysctlValidator
{
    /// <summary>Throws <see cref="SysctlException"/> for the first sysctl that is not allowed.</summary>
    public static void Validate(IReadOnlyDictionary<string, string> sysctls, bool hostNetwork, bool hostIpc) =>
        _ = Normalize(sysctls, hostNetwork, hostIpc);

    /// <summary>Validates and returns the sysctls in canonical (dotted) form.</summary>
    public static IReadOnlyList<ValidatedSysctl> Normalize(IReadOnlyDictionary<string, string> sysctls, bool hostNetwork, bool hostIpc)
    {
        var result = new List<ValidatedSysctl>(sysctls.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, value) in sysctls)
        {
            var name = NormalizeKey(key);
            if (!seen.Add(name)) throw new SysctlException(key, "given more than once");
            CheckValue(key, value);
            var ns = Classify(key, name);
            if (ns == SysctlNamespace.Network && hostNetwork)
                throw new SysctlException(key, "network sysctls are not allowed with host network");
            if (ns == SysctlNamespace.Ipc && hostIpc)
                throw new SysctlException(key, "IPC sysctls are not allowed with host IPC");
            result.Add(new ValidatedSysctl(name, name.Replace('.', '/'), value, ns));
        }
        return result;
    }

    /// <summary>The dotted name for a key written with '.' or '/' separators; strict about characters.</summary>
    public static string NormalizeKey(string key)
    {
        if (string.IsNullOrEmpty(key)) throw new SysctlException(key ?? "", "empty name");
        if (key.Length > 256) throw new SysctlException(key, "name too long");
        // '/' is the alternative separator; accepted only when no segment then holds a '.', so that
        // the two spellings can never name different files.
        bool slashForm = key.Contains('/');
        var segments = key.Split(slashForm ? '/' : '.');
        foreach (var seg in segments)
        {
            if (seg.Length == 0) throw new SysctlException(key, "empty name segment");
            foreach (var c in seg)
            {
                if (!(char.IsAsciiLetterOrDigit(c) || c == '_' || c == '-'))
                    throw new SysctlException(key, c switch
                    {
                        '.' => "'/' separated names may not contain '.'",
                        '+' or '=' or ',' => $"'{c}' is not allowed in a sysctl name",
                        '\n' or '\r' or '\0' => "control characters are not allowed",
                        _ => $"character '{(char.IsControl(c) ? '?' : c)}' is not allowed in a sysctl name",
                    });
            }
        }
        return string.Join('.', segments);
    }

    static void CheckValue(string key, string value)
    {
        if (string.IsNullOrEmpty(value)) throw new SysctlException(key, "empty value");
        if (value.Length > 4096) throw new SysctlException(key, "value too long");
        foreach (var c in value)
        {
            if (c is '\n' or '\r' or '\0') throw new SysctlException(key, "value may not contain newline, CR or NUL");
            if (c < 0x20 || c > 0x7e) throw new SysctlException(key, "value must be printable ASCII");
            if (c is '+' or '=') throw new SysctlException(key, $"'{c}' is not allowed in a sysctl value");
        }
    }

    static SysctlNamespace Classify(string key, string name)
    {
        if (name.StartsWith("net.", StringComparison.Ordinal)) return SysctlNamespace.Network;
        if (name.StartsWith("kernel.shm", StringComparison.Ordinal)
            || name.StartsWith("kernel.msg", StringComparison.Ordinal)
            || name == "kernel.sem"
            || name.StartsWith("fs.mqueue.", StringComparison.Ordinal))
            return SysctlNamespace.Ipc;
        if (name is "kernel.hostname" or "kernel.domainname")
            throw new SysctlException(key, "set the hostname through the pod's hostname, not a sysctl");
        throw new SysctlException(key, "not a namespaced sysctl");
    }
}
