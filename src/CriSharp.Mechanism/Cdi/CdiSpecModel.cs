using System.Text.Json.Serialization;

namespace CriSharp.Mechanism.Cdi;

// A CDI spec file (Container Device Interface spec 1.1.0, SPEC.md), key by key as the reference specs-go
// package spells them. Strings are never null after loading (a JSON/YAML null reads as ""), absent lists and
// objects are null. Loaded specs are shared by every resolution: treat them as read-only.

/// <summary>The root of a CDI spec file: one vendor/class and the devices it offers.</summary>
public sealed class CdiSpec
{
    [JsonPropertyName("cdiVersion")] public string Version { get; set; } = "";
    /// <summary>"vendor/class", e.g. "vendor.com/gpu".</summary>
    [JsonPropertyName("kind")] public string Kind { get; set; } = "";
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; set; }
    [JsonPropertyName("devices")] public List<CdiDevice>? Devices { get; set; }
    /// <summary>Edits made once when any of the spec's devices is requested.</summary>
    [JsonPropertyName("containerEdits")] public CdiContainerEdits? ContainerEdits { get; set; }
}

/// <summary>One device, requested as "kind=name".</summary>
public sealed class CdiDevice
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; set; }
    [JsonPropertyName("containerEdits")] public CdiContainerEdits? ContainerEdits { get; set; }
}

/// <summary>Edits to a container's OCI spec.</summary>
public sealed class CdiContainerEdits
{
    /// <summary>"NAME=VALUE" entries.</summary>
    [JsonPropertyName("env")] public List<string>? Env { get; set; }
    [JsonPropertyName("deviceNodes")] public List<CdiDeviceNode>? DeviceNodes { get; set; }
    /// <summary>Since 1.1.0.</summary>
    [JsonPropertyName("netDevices")] public List<CdiNetDevice>? NetDevices { get; set; }
    [JsonPropertyName("hooks")] public List<CdiHook>? Hooks { get; set; }
    [JsonPropertyName("mounts")] public List<CdiMount>? Mounts { get; set; }
    /// <summary>Since 0.7.0.</summary>
    [JsonPropertyName("intelRdt")] public CdiIntelRdt? IntelRdt { get; set; }
    /// <summary>Since 0.7.0; zeros are ignored.</summary>
    [JsonPropertyName("additionalGids")] public List<uint>? AdditionalGids { get; set; }
}

/// <summary>A device node to create in the container; what is not given comes from the host node.</summary>
public sealed class CdiDeviceNode
{
    /// <summary>The node's path inside the container.</summary>
    [JsonPropertyName("path")] public string Path { get; set; } = "";
    /// <summary>Since 0.5.0; defaults to <see cref="Path"/>.</summary>
    [JsonPropertyName("hostPath")] public string HostPath { get; set; } = "";
    /// <summary>"", "b", "c", "u" or "p".</summary>
    [JsonPropertyName("type")] public string Type { get; set; } = "";
    [JsonPropertyName("major")] public long Major { get; set; }
    [JsonPropertyName("minor")] public long Minor { get; set; }
    /// <summary>Permission bits.</summary>
    [JsonPropertyName("fileMode")] public uint? FileMode { get; set; }
    /// <summary>Device-cgroup access: a subset of "rwm" ("" means "rwm", "none" means no access).</summary>
    [JsonPropertyName("permissions")] public string Permissions { get; set; } = "";
    [JsonPropertyName("uid")] public uint? Uid { get; set; }
    [JsonPropertyName("gid")] public uint? Gid { get; set; }
}

/// <summary>A host interface moved into the container's network namespace (since 1.1.0).</summary>
public sealed class CdiNetDevice
{
    [JsonPropertyName("hostInterfaceName")] public string HostInterfaceName { get; set; } = "";
    [JsonPropertyName("name")] public string Name { get; set; } = "";
}

/// <summary>An OCI hook to add under its lifecycle point.</summary>
public sealed class CdiHook
{
    /// <summary>prestart, createRuntime, createContainer, startContainer, poststart or poststop.</summary>
    [JsonPropertyName("hookName")] public string HookName { get; set; } = "";
    [JsonPropertyName("path")] public string Path { get; set; } = "";
    [JsonPropertyName("args")] public List<string>? Args { get; set; }
    [JsonPropertyName("env")] public List<string>? Env { get; set; }
    /// <summary>Seconds; greater than zero when given.</summary>
    [JsonPropertyName("timeout")] public int? Timeout { get; set; }
}

/// <summary>A mount to add to the container.</summary>
public sealed class CdiMount
{
    [JsonPropertyName("hostPath")] public string HostPath { get; set; } = "";
    [JsonPropertyName("containerPath")] public string ContainerPath { get; set; } = "";
    [JsonPropertyName("options")] public List<string>? Options { get; set; }
    /// <summary>Since 0.4.0; "" means a bind mount.</summary>
    [JsonPropertyName("type")] public string Type { get; set; } = "";
}

/// <summary>Intel RDT (resctrl) settings (since 0.7.0; schemata and enableMonitoring since 1.1.0).</summary>
public sealed class CdiIntelRdt
{
    [JsonPropertyName("closID")] public string ClosId { get; set; } = "";
    [JsonPropertyName("l3CacheSchema")] public string L3CacheSchema { get; set; } = "";
    [JsonPropertyName("memBwSchema")] public string MemBwSchema { get; set; } = "";
    [JsonPropertyName("schemata")] public List<string>? Schemata { get; set; }
    [JsonPropertyName("enableMonitoring")] public bool EnableMonitoring { get; set; }
}
