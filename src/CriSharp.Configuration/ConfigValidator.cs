using System.Net;

namespace CriSharp.Configuration;

/// <summary>Checks values that parse but make no sense, so the daemon refuses them at start.</summary>
public static class ConfigValidator
{
    public static readonly string[] LogLevels = ["trace", "debug", "info", "warn", "error"];
    public static readonly string[] LogFormats = ["text", "json"];
    public static readonly string[] CgroupDrivers = ["cgroupfs", "systemd"];

    public static void Validate(DaemonConfig c)
    {
        const string origin = "effective config";
        Absolute(c.Root, "root");
        Absolute(c.StateDir, "state_dir");
        Absolute(c.Listen, "listen");
        Absolute(c.MonitorPath, "monitor_path");
        OneOf(c.LogLevel, LogLevels, "log_level");
        OneOf(c.LogFormat, LogFormats, "log_format");
        OneOf(c.CgroupDriver, CgroupDrivers, "cgroup_driver");
        if (c.ShutdownTimeoutSeconds is < 0 or > 3600)
            throw new ConfigException(origin, "shutdown_timeout_seconds", $"must be between 0 and 3600, found {c.ShutdownTimeoutSeconds}");
        if (c.Runtimes.Count == 0)
            throw new ConfigException(origin, "runtimes", "at least one runtime handler is required");
        foreach (var (name, handler) in c.Runtimes)
        {
            if (name.Length == 0 || name.Any(ch => !(char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_' or '.')))
                throw new ConfigException(origin, $"runtimes.{name}", "handler names may hold only letters, digits, '-', '_' and '.'");
            Absolute(handler.Path, $"runtimes.{name}.path");
            Absolute(handler.RootDir, $"runtimes.{name}.root_dir");
        }
        if (!c.Runtimes.ContainsKey(c.DefaultRuntime))
            throw new ConfigException(origin, "default_runtime", $"'{c.DefaultRuntime}' is not a key of [runtimes] (have: {string.Join(", ", c.Runtimes.Keys)})");
        Absolute(c.Network.ConfDir, "network.conf_dir");
        foreach (var d in c.Network.PluginDirs) Absolute(d, "network.plugin_dirs");
        if (c.Network.PluginTimeoutSeconds is < 1 or > 3600)
            throw new ConfigException(origin, "network.plugin_timeout_seconds", $"must be between 1 and 3600, found {c.Network.PluginTimeoutSeconds}");
        if (c.Registries.Search.Any(string.IsNullOrWhiteSpace))
            throw new ConfigException(origin, "registries.search", "entries must not be empty");
        foreach (var (host, h) in c.Registries.Hosts)
        {
            foreach (var m in h.Mirrors)
                if (string.IsNullOrWhiteSpace(m) || m.Contains(' '))
                    throw new ConfigException(origin, $"registries.hosts.\"{host}\".mirrors", $"invalid mirror location '{m}'");
            if (h.MirrorsOnly && h.Mirrors.Count == 0)
                throw new ConfigException(origin, $"registries.hosts.\"{host}\".mirrors_only", "is true but no mirrors are listed");
            if (h.CaDir.Length > 0) Absolute(h.CaDir, $"registries.hosts.\"{host}\".ca_dir");
        }
        if (!IPAddress.TryParse(c.Stream.Address, out _))
            throw new ConfigException(origin, "stream.address", $"'{c.Stream.Address}' is not an IP address");
        if (c.Stream.Port is < 0 or > 65535)
            throw new ConfigException(origin, "stream.port", $"must be between 0 and 65535, found {c.Stream.Port}");
        if (c.Stream.IdleTimeoutSeconds <= 0)
            throw new ConfigException(origin, "stream.idle_timeout_seconds", "must be positive");
        if (c.Images.PullProgressWindowSeconds is < 1 or > 86400)
            throw new ConfigException(origin, "images.pull_progress_window_seconds", $"must be between 1 and 86400, found {c.Images.PullProgressWindowSeconds}");
        if (c.Images.PullMinBytesPerSecond < 0)
            throw new ConfigException(origin, "images.pull_min_bytes_per_second", "must not be negative");
        if (c.Images.MaxParallelDownloads is < 1 or > 64)
            throw new ConfigException(origin, "images.max_parallel_downloads", $"must be between 1 and 64, found {c.Images.MaxParallelDownloads}");
        if (MetricsConfig.ParseAddress(c.Metrics.Address) == null)
            throw new ConfigException(origin, "metrics.address", $"'{c.Metrics.Address}' is not an IP:port address (e.g. 127.0.0.1:9090 or [::1]:9090)");
        foreach (var d in c.Cdi.SpecDirs) Absolute(d, "cdi.spec_dirs");
        if ((c.Stream.TlsCert.Length == 0) != (c.Stream.TlsKey.Length == 0))
            throw new ConfigException(origin, "stream.tls_cert", "tls_cert and tls_key must be set together");

        static void Absolute(string path, string key)
        {
            if (!Path.IsPathRooted(path))
                throw new ConfigException(origin, key, $"must be an absolute path, found '{path}'");
        }
        static void OneOf(string value, string[] allowed, string key)
        {
            if (!allowed.Contains(value))
                throw new ConfigException(origin, key, $"must be one of {string.Join(", ", allowed)}, found '{value}'");
        }
    }
}
