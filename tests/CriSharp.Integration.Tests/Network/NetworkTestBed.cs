using System.Diagnostics;
using System.Net;
using CriSharp.Api.V1;
using CriSharp.Integration.Tests.Daemon;
using CriSharp.Linux;
using CriSharp.TestSupport;
using Grpc.Net.Client;

namespace CriSharp.Integration.Tests.Network;

/// <summary>
/// A daemon with a real bridge network of its own (bridge name and /24 unique per test class, no
/// masquerade, host-local data inside the daemon dir) and an iptables rule that drops anything the pod
/// subnet sends off the subnet, so no test pod ever reaches beyond the host. Dispose removes the daemon,
/// the rule and the bridge.
/// </summary>
public sealed class NetworkTestBed : IAsyncDisposable
{
    public DaemonProcess Daemon { get; }
    public string Bridge { get; }
    /// <summary>e.g. "10.91.1" for 10.91.1.0/24.</summary>
    public string SubnetPrefix { get; }
    public string Subnet => SubnetPrefix + ".0/24";
    public string NetworkName => "it-" + Bridge;
    public string IpamDir => Path.Combine(Daemon.Dir, "ipam");
    public string PodsStateDir => Path.Combine(Daemon.Dir, "state", "pods");
    public RuntimeService.RuntimeServiceClient Runtime { get; private set; } = null!;
    public ImageService.ImageServiceClient Images { get; private set; } = null!;
    GrpcChannel? _channel;
    RegistryFixture? _registry;
    bool _ruleInstalled;
    public string Busybox { get; private set; } = "";

    string[] IsolationRule => ["FORWARD", "-s", Subnet, "!", "-d", Subnet, "-j", "DROP"];

    /// <param name="daemonDir">The daemon's directory (default: a fresh /tmp/crisharp-it-*).</param>
    public NetworkTestBed(string bridge, int subnetOctet, string extraToml = "", bool writeConflist = true, string? daemonDir = null)
    {
        if (bridge.Length > 15) throw new ArgumentException("bridge names have at most 15 characters", nameof(bridge));
        Bridge = bridge;
        SubnetPrefix = $"10.91.{subnetOctet}";
        Daemon = new DaemonProcess(extraToml, daemonDir, loopbackNetwork: false);
        if (writeConflist) WriteConflist();
    }

    /// <summary>The test network: bridge (gateway, no masquerade), host-local, portmap, loopback; <paramref name="extraPlugins"/> chained after bridge.</summary>
    public string Conflist(params string[] extraPlugins) => $$$"""
        {"cniVersion":"1.0.0","name":"{{{NetworkName}}}","plugins":[
          {"type":"bridge","bridge":"{{{Bridge}}}","isGateway":true,"ipMasq":false,"hairpinMode":true,
           "ipam":{"type":"host-local","ranges":[[{"subnet":"{{{Subnet}}}"}]],"dataDir":"{{{IpamDir}}}"}},
          {{{string.Concat(extraPlugins.Select(p => p + ","))}}}
          {"type":"portmap","capabilities":{"portMappings":true}},
          {"type":"loopback"}]}
        """;

    public void WriteConflist(params string[] extraPlugins)
    {
        var tmp = Path.Combine(Daemon.Dir, "conflist.tmp");
        File.WriteAllText(tmp, Conflist(extraPlugins));
        File.Move(tmp, Path.Combine(Daemon.CniConfDir, "10-test.conflist"), overwrite: true);
    }

    public async Task StartAsync(bool withBusybox = false)
    {
        Run("iptables", ["-w", "-I", .. IsolationRule]);
        _ruleInstalled = true;
        if (withBusybox)
        {
            _registry = await RegistryFixture.Anonymous();
            Busybox = (await TestImages.PushAsync(_registry, TestImages.Busybox)).First().Reference;
        }
        await ConnectAsync();
        if (withBusybox) await Images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = Busybox } });
    }

    /// <summary>Starts (or restarts) the daemon and connects to it.</summary>
    public async Task ConnectAsync()
    {
        await Daemon.StartServingAsync();
        _channel?.Dispose();
        _channel = Daemon.Channel();
        Runtime = new RuntimeService.RuntimeServiceClient(_channel);
        Images = new ImageService.ImageServiceClient(_channel);
    }

    public PodSandboxConfig PodConfig(string name, bool hostNetwork = false, params PortMapping[] ports)
    {
        var c = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = name, Uid = Guid.NewGuid().ToString(), Namespace = "net-it" },
            Hostname = name,
            LogDirectory = Path.Combine(Daemon.Dir, "logs", name),
            DnsConfig = new DNSConfig { Servers = { "10.0.0.10" }, Searches = { "net-it.svc.cluster.local" } },
            Linux = new LinuxPodSandboxConfig
            {
                SecurityContext = new LinuxSandboxSecurityContext
                {
                    // PID per container, as kubelet asks unless shareProcessNamespace is set (no infra process).
                    NamespaceOptions = new NamespaceOption { Network = hostNetwork ? NamespaceMode.Node : NamespaceMode.Pod, Pid = NamespaceMode.Container },
                },
            },
        };
        c.PortMappings.AddRange(ports);
        return c;
    }

    public ContainerConfig ShConfig(string name, string script) => new()
    {
        Metadata = new ContainerMetadata { Name = name },
        Image = new ImageSpec { Image = Busybox },
        Command = { "sh", "-c", script },
        LogPath = $"{name}.log",
    };

    public async Task<string> RunContainerAsync(string pod, PodSandboxConfig config, string name, string script)
    {
        var id = (await Runtime.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = pod, Config = ShConfig(name, script), SandboxConfig = config })).ContainerId;
        await Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        return id;
    }

    public async Task<string> PodIpAsync(string pod) =>
        (await Runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = pod })).Status.Network.Ip;

    /// <summary>Stops and removes every pod the daemon knows.</summary>
    public async Task RemoveAllPodsAsync()
    {
        foreach (var p in (await Runtime.ListPodSandboxAsync(new ListPodSandboxRequest())).Items)
        {
            await Runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = p.Id });
            await Runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = p.Id });
        }
    }

    // ---- what must be gone after teardown ----

    /// <summary>Mounts (netns pins, shm) under the pods state dir.</summary>
    public List<string> PodMounts() =>
        Mounts.ReadMountInfo().Select(m => m.MountPoint).Where(m => m.StartsWith(PodsStateDir + "/", StringComparison.Ordinal)).ToList();

    /// <summary>Interfaces enslaved to the test bridge (the host ends of pod veths).</summary>
    public List<string> BridgePorts()
    {
        var r = Run("ip", ["-o", "link", "show", "master", Bridge], check: false);
        if (r.Code != 0) return []; // no bridge: no ports
        return r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(':')[1].Trim()).ToList();
    }

    /// <summary>Addresses host-local still holds for this network.</summary>
    public List<string> IpamReservations()
    {
        var dir = Path.Combine(IpamDir, NetworkName);
        if (!Directory.Exists(dir)) return [];
        return Directory.GetFiles(dir).Select(Path.GetFileName).Where(f => IPAddress.TryParse(f, out _)).Select(f => f!).ToList();
    }

    /// <summary>iptables rules (filter and nat) that mention the test subnet, besides the isolation rule.</summary>
    public List<string> SubnetRules() =>
        [.. Run("iptables-save", [], check: false).Out.Split('\n')
            .Where(l => l.Contains(SubnetPrefix + ".") && !l.Contains("-j DROP"))];

    public async Task AssertNothingLeftAsync()
    {
        var pinned = PodMounts();
        Assert.True(pinned.Count == 0, "pod mounts left: " + string.Join(", ", pinned));
        Assert.Empty(Directory.Exists(PodsStateDir) ? Directory.GetDirectories(PodsStateDir) : []);
        // veths vanish with their netns, asynchronously in the kernel: give it a moment.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (BridgePorts().Count > 0 && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.True(BridgePorts().Count == 0, "veths left on " + Bridge + ": " + string.Join(", ", BridgePorts()));
        Assert.True(IpamReservations().Count == 0, "host-local reservations left: " + string.Join(", ", IpamReservations()));
        Assert.True(SubnetRules().Count == 0, "iptables rules left: " + string.Join("\n", SubnetRules()));
        var cache = Path.Combine(Daemon.Dir, "root", "cni");
        Assert.Empty(Directory.Exists(cache) ? Directory.GetFiles(cache) : []);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Daemon.Process is { HasExited: false }) await RemoveAllPodsAsync();
        }
        catch (Exception)
        {
            // Best effort: the assertions of the test said what went wrong.
        }
        _channel?.Dispose();
        var leftovers = Mounts.ReadMountInfo().Where(m => m.MountPoint.StartsWith(Daemon.Dir, StringComparison.Ordinal)).ToList();
        Daemon.Dispose();
        foreach (var m in leftovers.AsEnumerable().Reverse()) Mounts.Unmount(m.MountPoint, detach: true);
        if (_ruleInstalled) Run("iptables", ["-w", "-D", .. IsolationRule], check: false);
        Run("ip", ["link", "del", Bridge], check: false);
        if (_registry != null) await _registry.DisposeAsync();
    }

    public static (int Code, string Out, string Err) Run(string file, string[] args, bool check = true)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (check && p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {p.ExitCode}: {stderr}");
        return (p.ExitCode, stdout.Result, stderr);
    }
}
