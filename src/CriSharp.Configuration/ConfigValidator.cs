using System.Net;

namespace CriSharp.Configuration;

/// <summary>Checks values that parse but make no sense, so the daemon refuses them at start.</summary>
public static class ConfigValidator
{
    public static readonly string[] LogLevels = ["trace", "debug", "info", "warn", "error"];
    public static readonly string[] LogFormats = ["text", "json"];
    public static readonly string[] CgroupDrivers = ["cgroupfs", "systemd"];

    const string Origin = "effective config";

    /// <summary>Throws a <see cref="ConfigException"/> for the first key that makes no sense, checked in the order of the sections.</summary>
    public static void Validate(DaemonConfig c)
    {
        TopLevel(c);
        Runtimes(c);
        Network(c.Network);
        Registries(c.Registries);
        StreamEndpoint(c.Stream);
        Images(c.Images);
        if (MetricsConfig.ParseAddress(c.Metrics.Address) == null)
            throw new ConfigException(Origin, "metrics.address", $"'{c.Metrics.Address}' is not an IP:port address (e.g. 127.0.0.1:9090 or [::1]:9090)");
        foreach (var d in c.Cdi.SpecDirs) Absolute(d, "cdi.spec_dirs");
        if ((c.Stream.TlsCert.Length == 0) != (c.Stream.TlsKey.Length == 0))
            throw new ConfigException(Origin, "stream.tls_cert", "tls_cert and tls_key must be set together");
    }

    /// <summary>The top-level keys: paths, enumerations and the shutdown timeout.</summary>
    static void TopLevel(DaemonConfig c)
    {
        Absolute(c.Root, "root");
        Absolute(c.StateDir, "state_dir");
        Absolute(c.Listen, "listen");
        Absolute(c.MonitorPath, "monitor_path");
        OneOf(c.LogLevel, LogLevels, "log_level");
        OneOf(c.LogFormat, LogFormats, "log_format");
        OneOf(c.CgroupDriver, CgroupDrivers, "cgroup_driver");
        Between(c.ShutdownTimeoutSeconds, 0, 3600, "shutdown_timeout_seconds");
    }

    /// <summary>At least one well-named runtime handler with absolute paths, and a default that is one of them.</summary>
    static void Runtimes(DaemonConfig c)
    {
        if (c.Runtimes.Count == 0)
            throw new ConfigException(Origin, "runtimes", "at least one runtime handler is required");
        foreach (var (name, handler) in c.Runtimes)
        {
            if (name.Length == 0 || name.Any(ch => !(char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_' or '.')))
                throw new ConfigException(Origin, $"runtimes.{name}", "handler names may hold only letters, digits, '-', '_' and '.'");
            Absolute(handler.Path, $"runtimes.{name}.path");
            Absolute(handler.RootDir, $"runtimes.{name}.root_dir");
        }
        if (!c.Runtimes.ContainsKey(c.DefaultRuntime))
            throw new ConfigException(Origin, "default_runtime", $"'{c.DefaultRuntime}' is not a key of [runtimes] (have: {string.Join(", ", c.Runtimes.Keys)})");
    }

    static void Network(NetworkConfig n)
    {
        Absolute(n.ConfDir, "network.conf_dir");
        foreach (var d in n.PluginDirs) Absolute(d, "network.plugin_dirs");
        Between(n.PluginTimeoutSeconds, 1, 3600, "network.plugin_timeout_seconds");
    }

    static void Registries(RegistriesConfig r)
    {
        if (r.Search.Any(string.IsNullOrWhiteSpace))
            throw new ConfigException(Origin, "registries.search", "entries must not be empty");
        foreach (var (host, h) in r.Hosts)
        {
            foreach (var m in h.Mirrors)
                if (string.IsNullOrWhiteSpace(m) || m.Contains(' '))
                    throw new ConfigException(Origin, $"registries.hosts.\"{host}\".mirrors", $"invalid mirror location '{m}'");
            if (h.MirrorsOnly && h.Mirrors.Count == 0)
                throw new ConfigException(Origin, $"registries.hosts.\"{host}\".mirrors_only", "is true but no mirrors are listed");
            if (h.CaDir.Length > 0) Absolute(h.CaDir, $"registries.hosts.\"{host}\".ca_dir");
        }
    }

    /// <summary>Where the streaming server listens and how long it keeps an idle session; its TLS pair is checked last, by <see cref="Validate"/>.</summary>
    static void StreamEndpoint(StreamConfig s)
    {
        if (!IPAddress.TryParse(s.Address, out _))
            throw new ConfigException(Origin, "stream.address", $"'{s.Address}' is not an IP address");
        Between(s.Port, 0, 65535, "stream.port");
        if (s.IdleTimeoutSeconds <= 0)
            throw new ConfigException(Origin, "stream.idle_timeout_seconds", "must be positive");
    }

    static void Images(ImagesConfig i)
    {
        Between(i.PullProgressWindowSeconds, 1, 86400, "images.pull_progress_window_seconds");
        if (i.PullMinBytesPerSecond < 0)
            throw new ConfigException(Origin, "images.pull_min_bytes_per_second", "must not be negative");
        Between(i.MaxParallelDownloads, 1, 64, "images.max_parallel_downloads");
    }

    static void Absolute(string path, string key)
    {
        if (!Path.IsPathRooted(path))
            throw new ConfigException(Origin, key, $"must be an absolute path, found '{path}'");
    }

    static void OneOf(string value, string[] allowed, string key)
    {
        if (!allowed.Contains(value))
            throw new ConfigException(Origin, key, $"must be one of {string.Join(", ", allowed)}, found '{value}'");
    }

    static void Between(long value, long min, long max, string key)
    {
        if (value < min || value > max)
            throw new ConfigException(Origin, key, $"must be between {min} and {max}, found {value}");
    }
}
