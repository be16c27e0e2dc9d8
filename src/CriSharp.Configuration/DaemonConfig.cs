namespace CriSharp.Configuration;

/// <summary>The effective configuration of the crisharp daemon (defaults, then files, then flags).</summary>
public sealed class DaemonConfig
{
    public string Root { get; set; } = "/var/lib/crisharp";
    public string StateDir { get; set; } = "/run/crisharp";
    public string Listen { get; set; } = "/run/crisharp/crisharp.sock";
    public string LogLevel { get; set; } = "info";
    public string LogFormat { get; set; } = "text";
    public string CgroupDriver { get; set; } = "cgroupfs";
    public string DefaultRuntime { get; set; } = "runc";
    public string MonitorPath { get; set; } = "/usr/bin/conmon";
    public long ShutdownTimeoutSeconds { get; set; } = 4;

    /// <summary>OCI runtime handlers by name (the CRI runtime_handler).</summary>
    public SortedDictionary<string, RuntimeHandlerConfig> Runtimes { get; set; } = new(StringComparer.Ordinal)
    {
        ["runc"] = new() { Path = "/usr/sbin/runc", RootDir = "/run/crisharp/runc" },
        ["crun"] = new() { Path = "/usr/bin/crun", RootDir = "/run/crisharp/crun" },
    };

    public NetworkConfig Network { get; set; } = new();
    public RegistriesConfig Registries { get; set; } = new();
    public StreamConfig Stream { get; set; } = new();
    public ImagesConfig Images { get; set; } = new();
    public MetricsConfig Metrics { get; set; } = new();
    public CdiConfig Cdi { get; set; } = new();

    /// <summary>A deep copy, so a reload can build a new config without touching the live one.</summary>
    public DaemonConfig Clone()
    {
        var c = (DaemonConfig)MemberwiseClone();
        c.Runtimes = new(StringComparer.Ordinal);
        foreach (var (k, v) in Runtimes) c.Runtimes[k] = v with { };
        c.Network = Network with { PluginDirs = [.. Network.PluginDirs] };
        c.Registries = Registries.Clone();
        c.Stream = Stream with { };
        c.Images = Images with { };
        c.Metrics = Metrics with { };
        c.Cdi = Cdi with { SpecDirs = [.. Cdi.SpecDirs] };
        return c;
    }
}

/// <summary>One OCI runtime handler: its binary and its state root.</summary>
public sealed record RuntimeHandlerConfig
{
    public string Path { get; set; } = "";
    public string RootDir { get; set; } = "";
}

/// <summary>Where CNI network configs and plugins are found.</summary>
public sealed record NetworkConfig
{
    public string ConfDir { get; set; } = "/etc/cni/net.d";
    public List<string> PluginDirs { get; set; } = ["/usr/lib/cni", "/opt/cni/bin"];
    public string NetworkName { get; set; } = "";
    /// <summary>How long one CNI plugin invocation (ADD, DEL, CHECK, STATUS) may take before it is killed.</summary>
    public long PluginTimeoutSeconds { get; set; } = 60;
}

/// <summary>Registry settings: search registries, insecure hosts and per-host mirrors.</summary>
public sealed class RegistriesConfig
{
    public List<string> Search { get; set; } = ["docker.io"];
    public List<string> Insecure { get; set; } = [];
    public SortedDictionary<string, RegistryHostConfig> Hosts { get; set; } = new(StringComparer.Ordinal);

    public RegistriesConfig Clone()
    {
        var c = new RegistriesConfig { Search = [.. Search], Insecure = [.. Insecure] };
        foreach (var (k, v) in Hosts) c.Hosts[k] = v with { Mirrors = [.. v.Mirrors] };
        return c;
    }
}

/// <summary>Settings for one registry host: its mirrors and TLS trust.</summary>
public sealed record RegistryHostConfig
{
    /// <summary>Mirror locations tried in order, e.g. "http://127.0.0.1:5000" or "mirror.example.com".</summary>
    public List<string> Mirrors { get; set; } = [];
    public bool MirrorsOnly { get; set; }
    public bool Insecure { get; set; }
    public string CaDir { get; set; } = "";
}

/// <summary>The streaming server (exec/attach/port-forward URLs).</summary>
public sealed record StreamConfig
{
    public string Address { get; set; } = "127.0.0.1";
    public long Port { get; set; } = 10010;
    public long IdleTimeoutSeconds { get; set; } = 4 * 3600;
    public string TlsCert { get; set; } = "";
    public string TlsKey { get; set; } = "";
}

/// <summary>The Prometheus metrics endpoint (off by default).</summary>
public sealed record MetricsConfig
{
    public bool Enabled { get; set; }
    /// <summary>IP:port the /metrics endpoint listens on (plain HTTP).</summary>
    public string Address { get; set; } = "127.0.0.1:9090";

    /// <summary>Parses "IPv4:port" or "[IPv6]:port" (port 0–65535); null if it is neither.</summary>
    public static System.Net.IPEndPoint? ParseAddress(string address)
    {
        var colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address.AsSpan(colon + 1), System.Globalization.NumberStyles.None, null, out var port) || port > 65535)
            return null;
        var host = address[..colon];
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        else if (host.Contains(':')) return null; // an IPv6 address needs brackets
        return System.Net.IPAddress.TryParse(host, out var ip) ? new System.Net.IPEndPoint(ip, port) : null;
    }
}

/// <summary>CDI (Container Device Interface) spec directories, in increasing priority.</summary>
public sealed record CdiConfig
{
    public List<string> SpecDirs { get; set; } = ["/etc/cdi", "/var/run/cdi"];
}

/// <summary>Image pulling: stall detection and parallelism.</summary>
public sealed record ImagesConfig
{
    public long PullProgressWindowSeconds { get; set; } = 60;
    public long PullMinBytesPerSecond { get; set; } = 1024;
    public long MaxParallelDownloads { get; set; } = 3;
}
