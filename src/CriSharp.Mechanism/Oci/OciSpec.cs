using System.Text.Json;
using System.Text.Json.Serialization;


namespace CriSharp.Mechanism.Oci;

// The OCI runtime-spec config.json (runtime-spec 1.0.2 / 1.1 config.md and config-linux.md), limited to what a
// CRI runtime writes. Key names are spelled out one by one because several are not plain camelCase
// ("containerID", "hostID") and the spec, not a naming policy, is the authority. Nulls are omitted on write.

/// <summary>The root object of an OCI bundle's config.json.</summary>
public sealed class OciSpec
{
    [JsonPropertyName("ociVersion")] public string OciVersion { get; set; } = OciDefaults.OciVersion;
    [JsonPropertyName("process")] public OciProcess? Process { get; set; }
    [JsonPropertyName("root")] public OciRoot? Root { get; set; }
    [JsonPropertyName("hostname")] public string? Hostname { get; set; }
    [JsonPropertyName("mounts")] public List<OciMount>? Mounts { get; set; }
    [JsonPropertyName("hooks")] public OciHooks? Hooks { get; set; }
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; set; }
    [JsonPropertyName("linux")] public OciLinux? Linux { get; set; }

    /// <summary>The spec as config.json bytes (indented, as runc's own `runc spec` writes it).</summary>
    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, OciJsonContext.Default.OciSpec);

    /// <summary>Reads a config.json; throws <see cref="JsonException"/> when it is not one.</summary>
    public static OciSpec FromJson(ReadOnlySpan<byte> json) =>
        JsonSerializer.Deserialize(json, OciJsonContext.Default.OciSpec) ?? throw new JsonException("config.json is JSON null");
}

/// <summary>The container process: what runs, as whom, with which privileges.</summary>
public sealed class OciProcess
{
    [JsonPropertyName("terminal")] public bool? Terminal { get; set; }
    [JsonPropertyName("consoleSize")] public OciBox? ConsoleSize { get; set; }
    [JsonPropertyName("user")] public OciUser User { get; set; } = new();
    [JsonPropertyName("args")] public List<string> Args { get; set; } = [];
    [JsonPropertyName("env")] public List<string>? Env { get; set; }
    [JsonPropertyName("cwd")] public string Cwd { get; set; } = "/";
    [JsonPropertyName("capabilities")] public OciCapabilities? Capabilities { get; set; }
    [JsonPropertyName("rlimits")] public List<OciRlimit>? Rlimits { get; set; }
    [JsonPropertyName("noNewPrivileges")] public bool? NoNewPrivileges { get; set; }
    [JsonPropertyName("apparmorProfile")] public string? ApparmorProfile { get; set; }
    [JsonPropertyName("oomScoreAdj")] public int? OomScoreAdj { get; set; }
    [JsonPropertyName("selinuxLabel")] public string? SelinuxLabel { get; set; }
}

/// <summary>A console size in characters.</summary>
public sealed class OciBox
{
    [JsonPropertyName("height")] public uint Height { get; set; }
    [JsonPropertyName("width")] public uint Width { get; set; }
}

/// <summary>The numeric identity the process runs with (names are resolved before the spec is written).</summary>
public sealed class OciUser
{
    [JsonPropertyName("uid")] public uint Uid { get; set; }
    [JsonPropertyName("gid")] public uint Gid { get; set; }
    [JsonPropertyName("umask")] public uint? Umask { get; set; }
    [JsonPropertyName("additionalGids")] public List<uint>? AdditionalGids { get; set; }
}

/// <summary>The five capability sets, each a list of "CAP_..." names.</summary>
public sealed class OciCapabilities
{
    [JsonPropertyName("bounding")] public List<string>? Bounding { get; set; }
    [JsonPropertyName("effective")] public List<string>? Effective { get; set; }
    [JsonPropertyName("inheritable")] public List<string>? Inheritable { get; set; }
    [JsonPropertyName("permitted")] public List<string>? Permitted { get; set; }
    [JsonPropertyName("ambient")] public List<string>? Ambient { get; set; }
}

/// <summary>A POSIX resource limit such as RLIMIT_NOFILE.</summary>
public sealed class OciRlimit
{
    [JsonPropertyName("type")] public string Type { get; set; } = "";
    [JsonPropertyName("hard")] public ulong Hard { get; set; }
    [JsonPropertyName("soft")] public ulong Soft { get; set; }
}

/// <summary>The container's root file system.</summary>
public sealed class OciRoot
{
    [JsonPropertyName("path")] public string Path { get; set; } = "";
    [JsonPropertyName("readonly")] public bool? Readonly { get; set; }
}

/// <summary>One mount, performed by the runtime in list order.</summary>
public sealed class OciMount
{
    [JsonPropertyName("destination")] public string Destination { get; set; } = "";
    [JsonPropertyName("type")] public string? Type { get; set; }
    [JsonPropertyName("source")] public string? Source { get; set; }
    [JsonPropertyName("options")] public List<string>? Options { get; set; }
}

/// <summary>Programs the runtime runs at points of the container's lifecycle, each list in order.</summary>
public sealed class OciHooks
{
    [JsonPropertyName("prestart")] public List<OciHook>? Prestart { get; set; }
    [JsonPropertyName("createRuntime")] public List<OciHook>? CreateRuntime { get; set; }
    [JsonPropertyName("createContainer")] public List<OciHook>? CreateContainer { get; set; }
    [JsonPropertyName("startContainer")] public List<OciHook>? StartContainer { get; set; }
    [JsonPropertyName("poststart")] public List<OciHook>? Poststart { get; set; }
    [JsonPropertyName("poststop")] public List<OciHook>? Poststop { get; set; }
}

/// <summary>One hook: an absolute program path, its argv (args[0] conventionally the program's name), environ, and a timeout in seconds.</summary>
public sealed class OciHook
{
    [JsonPropertyName("path")] public string Path { get; set; } = "";
    [JsonPropertyName("args")] public List<string>? Args { get; set; }
    [JsonPropertyName("env")] public List<string>? Env { get; set; }
    [JsonPropertyName("timeout")] public int? Timeout { get; set; }
}

/// <summary>The Linux-specific part of the spec.</summary>
public sealed class OciLinux
{
    [JsonPropertyName("namespaces")] public List<OciNamespace>? Namespaces { get; set; }
    [JsonPropertyName("uidMappings")] public List<OciIdMapping>? UidMappings { get; set; }
    [JsonPropertyName("gidMappings")] public List<OciIdMapping>? GidMappings { get; set; }
    [JsonPropertyName("devices")] public List<OciDevice>? Devices { get; set; }
    [JsonPropertyName("cgroupsPath")] public string? CgroupsPath { get; set; }
    [JsonPropertyName("resources")] public OciResources? Resources { get; set; }
    [JsonPropertyName("sysctl")] public Dictionary<string, string>? Sysctl { get; set; }
    [JsonPropertyName("seccomp")] public OciSeccomp? Seccomp { get; set; }
    [JsonPropertyName("rootfsPropagation")] public string? RootfsPropagation { get; set; }
    [JsonPropertyName("maskedPaths")] public List<string>? MaskedPaths { get; set; }
    [JsonPropertyName("readonlyPaths")] public List<string>? ReadonlyPaths { get; set; }
    [JsonPropertyName("mountLabel")] public string? MountLabel { get; set; }
}

/// <summary>A namespace to create (no path) or join (path to a /proc/pid/ns file or a pinned bind mount).</summary>
public sealed class OciNamespace
{
    [JsonPropertyName("type")] public string Type { get; set; } = "";
    [JsonPropertyName("path")] public string? Path { get; set; }
}

/// <summary>A user-namespace id range mapping.</summary>
public sealed class OciIdMapping
{
    [JsonPropertyName("containerID")] public uint ContainerId { get; set; }
    [JsonPropertyName("hostID")] public uint HostId { get; set; }
    [JsonPropertyName("size")] public uint Size { get; set; }
}

/// <summary>A device node the runtime creates in the container's /dev.</summary>
public sealed class OciDevice
{
    /// <summary>"c", "b", "u" or "p".</summary>
    [JsonPropertyName("type")] public string Type { get; set; } = "";
    [JsonPropertyName("path")] public string Path { get; set; } = "";
    [JsonPropertyName("major")] public long Major { get; set; }
    [JsonPropertyName("minor")] public long Minor { get; set; }
    /// <summary>Permission bits only; the runtime adds the file type.</summary>
    [JsonPropertyName("fileMode")] public uint? FileMode { get; set; }
    [JsonPropertyName("uid")] public uint? Uid { get; set; }
    [JsonPropertyName("gid")] public uint? Gid { get; set; }
}

/// <summary>cgroup settings for the container.</summary>
public sealed class OciResources
{
    [JsonPropertyName("devices")] public List<OciDeviceRule>? Devices { get; set; }
    [JsonPropertyName("memory")] public OciMemory? Memory { get; set; }
    [JsonPropertyName("cpu")] public OciCpu? Cpu { get; set; }
    [JsonPropertyName("pids")] public OciPids? Pids { get; set; }
    [JsonPropertyName("hugepageLimits")] public List<OciHugepageLimit>? HugepageLimits { get; set; }
    [JsonPropertyName("unified")] public Dictionary<string, string>? Unified { get; set; }
}

/// <summary>A device-cgroup rule; a null type/major/minor is a wildcard.</summary>
public sealed class OciDeviceRule
{
    [JsonPropertyName("allow")] public bool Allow { get; set; }
    [JsonPropertyName("type")] public string? Type { get; set; }
    [JsonPropertyName("major")] public long? Major { get; set; }
    [JsonPropertyName("minor")] public long? Minor { get; set; }
    [JsonPropertyName("access")] public string? Access { get; set; }
}

/// <summary>Memory cgroup limits in bytes (swap is memory+swap, as cgroup v1's memsw).</summary>
public sealed class OciMemory
{
    [JsonPropertyName("limit")] public long? Limit { get; set; }
    [JsonPropertyName("reservation")] public long? Reservation { get; set; }
    [JsonPropertyName("swap")] public long? Swap { get; set; }
    [JsonPropertyName("swappiness")] public ulong? Swappiness { get; set; }
}

/// <summary>CPU cgroup settings.</summary>
public sealed class OciCpu
{
    [JsonPropertyName("shares")] public ulong? Shares { get; set; }
    [JsonPropertyName("quota")] public long? Quota { get; set; }
    [JsonPropertyName("period")] public ulong? Period { get; set; }
    [JsonPropertyName("cpus")] public string? Cpus { get; set; }
    [JsonPropertyName("mems")] public string? Mems { get; set; }
}

/// <summary>The pids cgroup limit.</summary>
public sealed class OciPids
{
    [JsonPropertyName("limit")] public long Limit { get; set; }
}

/// <summary>A hugetlb limit; the page size is written as "2MB", "1GB".</summary>
public sealed class OciHugepageLimit
{
    [JsonPropertyName("pageSize")] public string PageSize { get; set; } = "";
    [JsonPropertyName("limit")] public ulong Limit { get; set; }
}

/// <summary>A seccomp filter: a default action and per-syscall exceptions.</summary>
public sealed class OciSeccomp
{
    [JsonPropertyName("defaultAction")] public string DefaultAction { get; set; } = "";
    [JsonPropertyName("defaultErrnoRet")] public uint? DefaultErrnoRet { get; set; }
    [JsonPropertyName("architectures")] public List<string>? Architectures { get; set; }
    [JsonPropertyName("flags")] public List<string>? Flags { get; set; }
    [JsonPropertyName("listenerPath")] public string? ListenerPath { get; set; }
    [JsonPropertyName("listenerMetadata")] public string? ListenerMetadata { get; set; }
    [JsonPropertyName("syscalls")] public List<OciSyscall>? Syscalls { get; set; }
}

/// <summary>An action for a set of syscalls, optionally only when the argument conditions hold.</summary>
public sealed class OciSyscall
{
    [JsonPropertyName("names")] public List<string> Names { get; set; } = [];
    [JsonPropertyName("action")] public string Action { get; set; } = "";
    [JsonPropertyName("errnoRet")] public uint? ErrnoRet { get; set; }
    [JsonPropertyName("args")] public List<OciSyscallArg>? Args { get; set; }
}

/// <summary>A condition on one syscall argument ("op" is SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ, ...).</summary>
public sealed class OciSyscallArg
{
    [JsonPropertyName("index")] public uint Index { get; set; }
    [JsonPropertyName("value")] public ulong Value { get; set; }
    [JsonPropertyName("valueTwo")] public ulong? ValueTwo { get; set; }
    [JsonPropertyName("op")] public string Op { get; set; } = "";
}
