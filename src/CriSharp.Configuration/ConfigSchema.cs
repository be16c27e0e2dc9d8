namespace CriSharp.Configuration;

/// <summary>The TOML type a config key takes.</summary>
public enum ConfigValueKind { String, Integer, Boolean, StringArray }

/// <summary>One config key: its TOML name, type, comment and how it reads/writes its section object.</summary>
public sealed record ConfigKey(string Name, ConfigValueKind Kind, string Comment, Func<object, object> Get, Action<object, object> Set);

/// <summary>
/// The single description of every config key. Loading, validation messages, `crisharp config`
/// and `crisharp config --default` are all driven from these tables, so they cannot disagree.
/// </summary>
public static class ConfigSchema
{
    static ConfigKey S<T>(string name, string comment, Func<T, string> get, Action<T, string> set) =>
        new(name, ConfigValueKind.String, comment, o => get((T)o), (o, v) => set((T)o, (string)v));
    static ConfigKey I<T>(string name, string comment, Func<T, long> get, Action<T, long> set) =>
        new(name, ConfigValueKind.Integer, comment, o => get((T)o), (o, v) => set((T)o, (long)v));
    static ConfigKey B<T>(string name, string comment, Func<T, bool> get, Action<T, bool> set) =>
        new(name, ConfigValueKind.Boolean, comment, o => get((T)o), (o, v) => set((T)o, (bool)v));
    static ConfigKey A<T>(string name, string comment, Func<T, List<string>> get, Action<T, List<string>> set) =>
        new(name, ConfigValueKind.StringArray, comment, o => get((T)o), (o, v) => set((T)o, (List<string>)v));

    /// <summary>Keys at the top level of the file.</summary>
    public static readonly IReadOnlyList<ConfigKey> Top =
    [
        S<DaemonConfig>("root", "Persistent data: images, layers, container records.", c => c.Root, (c, v) => c.Root = v),
        S<DaemonConfig>("state_dir", "Runtime state that does not survive a reboot: pinned namespaces, bundles.", c => c.StateDir, (c, v) => c.StateDir = v),
        S<DaemonConfig>("listen", "Unix socket the CRI gRPC server listens on (created with mode 0660).", c => c.Listen, (c, v) => c.Listen = v),
        S<DaemonConfig>("log_level", "trace, debug, info, warn or error (reloadable with SIGHUP).", c => c.LogLevel, (c, v) => c.LogLevel = v),
        S<DaemonConfig>("log_format", "text or json, written to stderr.", c => c.LogFormat, (c, v) => c.LogFormat = v),
        S<DaemonConfig>("cgroup_driver", "cgroupfs or systemd; must match the kubelet's --cgroup-driver.", c => c.CgroupDriver, (c, v) => c.CgroupDriver = v),
        S<DaemonConfig>("default_runtime", "Runtime handler used when a pod names none; a key of [runtimes].", c => c.DefaultRuntime, (c, v) => c.DefaultRuntime = v),
        S<DaemonConfig>("monitor_path", "The per-container monitor (conmon) binary.", c => c.MonitorPath, (c, v) => c.MonitorPath = v),
        I<DaemonConfig>("shutdown_timeout_seconds", "On SIGTERM, how long in-flight calls may finish before exit.", c => c.ShutdownTimeoutSeconds, (c, v) => c.ShutdownTimeoutSeconds = v),
    ];

    /// <summary>Keys of each [runtimes.NAME] table.</summary>
    public static readonly IReadOnlyList<ConfigKey> Runtime =
    [
        S<RuntimeHandlerConfig>("path", "The OCI runtime binary.", r => r.Path, (r, v) => r.Path = v),
        S<RuntimeHandlerConfig>("root_dir", "The runtime's --root state directory.", r => r.RootDir, (r, v) => r.RootDir = v),
    ];

    /// <summary>Keys of [network].</summary>
    public static readonly IReadOnlyList<ConfigKey> Network =
    [
        S<NetworkConfig>("conf_dir", "CNI network configuration directory (.conflist, .conf, .json).", n => n.ConfDir, (n, v) => n.ConfDir = v),
        A<NetworkConfig>("plugin_dirs", "Directories searched for CNI plugin binaries, in order.", n => n.PluginDirs, (n, v) => n.PluginDirs = v),
        S<NetworkConfig>("network_name", "The CNI network to use; empty means the lexically first valid config.", n => n.NetworkName, (n, v) => n.NetworkName = v),
        I<NetworkConfig>("plugin_timeout_seconds", "How long one CNI plugin call (ADD, DEL, CHECK, STATUS) may take before it is killed.", n => n.PluginTimeoutSeconds, (n, v) => n.PluginTimeoutSeconds = v),
    ];

    /// <summary>Keys of [registries].</summary>
    public static readonly IReadOnlyList<ConfigKey> Registries =
    [
        A<RegistriesConfig>("search", "Registries tried, in order, for unqualified image names.", r => r.Search, (r, v) => r.Search = v),
        A<RegistriesConfig>("insecure", "Hosts (host[:port]) reached over plain HTTP or unverified TLS.", r => r.Insecure, (r, v) => r.Insecure = v),
    ];

    /// <summary>Keys of each [registries.hosts."HOST"] table.</summary>
    public static readonly IReadOnlyList<ConfigKey> RegistryHost =
    [
        A<RegistryHostConfig>("mirrors", "Mirror locations tried in order before the host itself, e.g. \"http://127.0.0.1:5000\".", h => h.Mirrors, (h, v) => h.Mirrors = v),
        B<RegistryHostConfig>("mirrors_only", "Never contact the host itself; pull only from its mirrors.", h => h.MirrorsOnly, (h, v) => h.MirrorsOnly = v),
        B<RegistryHostConfig>("insecure", "Reach this host over plain HTTP or unverified TLS.", h => h.Insecure, (h, v) => h.Insecure = v),
        S<RegistryHostConfig>("ca_dir", "Directory of extra CA certificates (*.crt) trusted for this host.", h => h.CaDir, (h, v) => h.CaDir = v),
    ];

    /// <summary>Keys of [stream].</summary>
    public static readonly IReadOnlyList<ConfigKey> Stream =
    [
        S<StreamConfig>("address", "Address the streaming server (exec/attach/port-forward) binds to.", s => s.Address, (s, v) => s.Address = v),
        I<StreamConfig>("port", "Port of the streaming server.", s => s.Port, (s, v) => s.Port = v),
        I<StreamConfig>("idle_timeout_seconds", "Idle streaming sessions are closed after this long.", s => s.IdleTimeoutSeconds, (s, v) => s.IdleTimeoutSeconds = v),
        S<StreamConfig>("tls_cert", "PEM certificate for TLS on the streaming server; empty for plain HTTP.", s => s.TlsCert, (s, v) => s.TlsCert = v),
        S<StreamConfig>("tls_key", "PEM private key matching tls_cert.", s => s.TlsKey, (s, v) => s.TlsKey = v),
    ];

    /// <summary>Keys of [metrics].</summary>
    public static readonly IReadOnlyList<ConfigKey> Metrics =
    [
        B<MetricsConfig>("enabled", "Serve Prometheus metrics (RPC latencies and errors, pulls, OOM kills, process failures) on /metrics.", m => m.Enabled, (m, v) => m.Enabled = v),
        S<MetricsConfig>("address", "IP:port of the plain-HTTP /metrics endpoint; keep it on loopback unless it is firewalled.", m => m.Address, (m, v) => m.Address = v),
    ];

    /// <summary>Keys of [cdi].</summary>
    public static readonly IReadOnlyList<ConfigKey> Cdi =
    [
        A<CdiConfig>("spec_dirs", "CDI spec directories (*.json, *.yaml), re-read on change; a device in a later directory overrides the same device in an earlier one.", c => c.SpecDirs, (c, v) => c.SpecDirs = v),
    ];

    /// <summary>Keys of [images].</summary>
    public static readonly IReadOnlyList<ConfigKey> Images =
    [
        I<ImagesConfig>("pull_progress_window_seconds", "A blob download that receives too little in this window fails (stall detection).", i => i.PullProgressWindowSeconds, (i, v) => i.PullProgressWindowSeconds = v),
        I<ImagesConfig>("pull_min_bytes_per_second", "Minimum average throughput over the window; 0 only fails downloads that receive nothing.", i => i.PullMinBytesPerSecond, (i, v) => i.PullMinBytesPerSecond = v),
        I<ImagesConfig>("max_parallel_downloads", "Blobs of one pull downloaded at the same time.", i => i.MaxParallelDownloads, (i, v) => i.MaxParallelDownloads = v),
    ];
}
