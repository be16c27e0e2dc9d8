using System.Text.Json;
using System.Text.Json.Nodes;
using CriSharp.Configuration;
using CriSharp.Linux;
using CriSharp.Model;
using Serilog;
using CriSharp.State;

namespace CriSharp.Network;

/// <summary>
/// Pod networking through CNI: ADD of the chosen network's plugins in order (chained with prevResult),
/// DEL in reverse from the cached config and result, CHECK and STATUS. The cache entry is written before
/// the first plugin runs, so a crash mid-ADD still leaves what recovery needs to release the addresses.
/// </summary>
public sealed class CniNetwork(LiveConfig config, ILogger log) : IPodNetwork
{
    /// <summary>The pod's interface name (CNI_IFNAME).</summary>
    public const string IfName = "eth0";

    readonly CniCache _cache = new(StateLayout.CniCache(config.Current.Root));

    public CniCache Cache => _cache;

    TimeSpan Timeout => TimeSpan.FromSeconds(config.Current.Network.PluginTimeoutSeconds);
    IReadOnlyList<string> PluginDirs => config.Current.Network.PluginDirs;

    /// <summary>The network a new pod would join, or a NotReady <see cref="CniException"/> naming why there is none.</summary>
    CniNetworkConfig ChooseNetwork()
    {
        var n = config.Current.Network;
        return CniConfigLoader.Find(n.ConfDir, n.PluginDirs, n.NetworkName, out var problem) ?? throw CniException.NetworkNotReady(problem);
    }

    public async Task<IReadOnlyList<string>> SetUpAsync(PodSandbox pod, CancellationToken ct)
    {
        var network = ChooseNetwork();
        var list = LiftOrNotReady(network);
        var entry = new CniCacheEntry
        {
            PodId = pod.Id,
            NetworkName = network.Name,
            CniVersion = network.CniVersion,
            ConfigFile = network.FilePath,
            ConfList = list,
            IfName = IfName,
            NetNs = pod.NetNsPath,
            CniArgs = CniConfList.CniArgs(pod),
            CapabilityArgs = CniConfList.CapabilityArgs(pod),
        };
        _cache.Write(entry);

        JsonObject? prev = null;
        try
        {
            CniResult? result = null;
            var call = new CniInvocation("ADD", pod.Id, pod.NetNsPath, IfName, entry.CniArgs, PluginDirs);
            foreach (var plugin in CniConfList.Plugins(list))
            {
                result = await AddPluginAsync(plugin, call, entry, prev, ct);
                prev = result.Raw;
            }
            _cache.Write(entry with { Result = prev });
            var ips = result?.PodIps(IfName) ?? [];
            log.Debug("CNI network {Network} attached pod {PodId}: {Ips}", entry.NetworkName, pod.Id, ips);
            return ips;
        }
        catch (Exception e)
        {
            await UndoFailedAddAsync(pod, entry with { Result = prev }, e);
            if (e is CniException or OperationCanceledException) throw;
            throw new CniException($"setting up the pod network {entry.NetworkName} failed: {e.Message}", inner: e);
        }
    }

    /// <summary>The network's plugin list as one conflist; an unreadable config makes the network NotReady.</summary>
    static JsonObject LiftOrNotReady(CniNetworkConfig network)
    {
        try
        {
            return CniConfList.Lift(network);
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            throw CniException.NetworkNotReady($"{network.FilePath}: {e.Message}");
        }
    }

    /// <summary>ADD of one plugin, chained on <paramref name="prev"/> (the previous plugin's result); a result that does not parse fails the ADD.</summary>
    async Task<CniResult> AddPluginAsync(JsonObject plugin, CniInvocation call, CniCacheEntry entry, JsonObject? prev, CancellationToken ct)
    {
        var path = PluginPath(plugin);
        var stdin = CniConfList.PluginConfig(plugin, entry.NetworkName, entry.CniVersion, prev, entry.CapabilityArgs);
        var stdout = await CniPluginRunner.RunAsync(path, call, stdin, Timeout, ct);
        try
        {
            return CniResult.Parse(stdout);
        }
        catch (FormatException e)
        {
            var output = CniPluginRunner.Excerpt(stdout);
            throw new CniException($"CNI plugin {Path.GetFileName(path)} (ADD) returned an invalid result ({e.Message}): {(output.Length > 0 ? output : "empty output")}");
        }
    }

    /// <summary>
    /// After a failed ADD: DEL with what the plugins returned so far (<paramref name="entry"/>'s result), then the cache
    /// entry goes. A failing DEL is logged and the entry stays, for recovery on the next start.
    /// </summary>
    async Task UndoFailedAddAsync(PodSandbox pod, CniCacheEntry entry, Exception failure)
    {
        log.Warning("CNI ADD of pod {PodId} to network {Network} failed, running DEL to clean up: {Error}", pod.Id, entry.NetworkName, failure.Message);
        try
        {
            await DeleteAsync(entry, NetNsOf(pod.NetNsPath), CancellationToken.None);
            _cache.Delete(pod.Id);
        }
        catch (Exception cleanup)
        {
            // The entry stays: recovery on the next start tries the DEL again.
            log.Warning("cleaning up the failed CNI ADD of pod {PodId} failed: {Error}", pod.Id, cleanup.Message);
        }
    }

    public async Task TearDownAsync(PodSandbox pod, CancellationToken ct)
    {
        CniCacheEntry? entry;
        try
        {
            entry = _cache.Load(pod.Id);
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            // Better a DEL with today's config than none at all: it releases the IPAM reservation by container id.
            log.Warning("CNI cache entry of pod {PodId} is unreadable ({Error}); tearing down with the current network config", pod.Id, e.Message);
            entry = FallbackEntry(pod);
        }
        // The entry is written before any plugin runs: none means nothing is attached (or DEL already finished).
        if (entry == null) return;
        await DeleteAsync(entry, NetNsOf(pod.NetNsPath), ct);
        _cache.Delete(pod.Id);
        log.Debug("CNI network {Network} detached pod {PodId}", entry.NetworkName, pod.Id);
    }

    CniCacheEntry? FallbackEntry(PodSandbox pod)
    {
        var n = config.Current.Network;
        var network = CniConfigLoader.Find(n.ConfDir, n.PluginDirs, n.NetworkName, out _);
        if (network == null) return null;
        return new CniCacheEntry
        {
            PodId = pod.Id,
            NetworkName = network.Name,
            CniVersion = network.CniVersion,
            ConfigFile = network.FilePath,
            ConfList = CniConfList.Lift(network),
            IfName = IfName,
            NetNs = pod.NetNsPath,
            CniArgs = CniConfList.CniArgs(pod),
            CapabilityArgs = CniConfList.CapabilityArgs(pod),
        };
    }

    /// <summary>
    /// DEL of every plugin in reverse order. A failing plugin does not stop the others (each releases what it
    /// can); the failures are thrown together at the end. "Container unknown" (code 3) counts as done.
    /// </summary>
    async Task DeleteAsync(CniCacheEntry entry, string netns, CancellationToken ct)
    {
        var prev = CniConfList.AtLeast(entry.CniVersion, "0.4.0") ? entry.Result : null;
        var call = new CniInvocation("DEL", entry.PodId, netns, entry.IfName, entry.CniArgs, PluginDirs);
        var failures = new List<string>();
        foreach (var plugin in CniConfList.Plugins(entry.ConfList).Reverse())
        {
            try
            {
                var stdin = CniConfList.PluginConfig(plugin, entry.NetworkName, entry.CniVersion, prev, entry.CapabilityArgs);
                await CniPluginRunner.RunAsync(PluginPath(plugin), call, stdin, Timeout, ct);
            }
            catch (CniException e) when (e.Code == 3)
            {
                // The plugin no longer knows the container: nothing left to release.
            }
            catch (Exception e) when (e is CniException or FormatException)
            {
                failures.Add(e.Message);
            }
        }
        if (failures.Count > 0)
            throw new CniException($"tearing down pod {entry.PodId} from CNI network {entry.NetworkName} failed: {string.Join("; ", failures)}");
    }

    /// <summary>CHECK (spec 0.4.0 and later) of every plugin with the cached result; throws if the attachment is broken.</summary>
    public async Task CheckAsync(PodSandbox pod, CancellationToken ct)
    {
        var entry = _cache.Load(pod.Id) ?? throw new CniException($"pod {pod.Id} has no CNI attachment to check");
        if (!CniConfList.AtLeast(entry.CniVersion, "0.4.0"))
            throw new CniException($"CNI network {entry.NetworkName} uses spec {entry.CniVersion}, which has no CHECK (0.4.0 and later)");
        if (entry.ConfList["disableCheck"] is JsonValue d && d.TryGetValue<bool>(out var disabled) && disabled) return;
        if (entry.Result == null) throw new CniException($"pod {pod.Id} has no completed CNI ADD to check");
        var call = new CniInvocation("CHECK", pod.Id, NetNsOf(pod.NetNsPath), entry.IfName, entry.CniArgs, PluginDirs);
        foreach (var plugin in CniConfList.Plugins(entry.ConfList))
        {
            var stdin = CniConfList.PluginConfig(plugin, entry.NetworkName, entry.CniVersion, entry.Result, entry.CapabilityArgs);
            await CniPluginRunner.RunAsync(PluginPath(plugin), call, stdin, Timeout, ct);
        }
    }

    /// <summary>
    /// STATUS (spec 1.1.0) of the chosen network's plugins: returns when they accept ADDs, throws a
    /// <see cref="CniException"/> with the first plugin's reason otherwise. Older versions only need a usable config.
    /// </summary>
    public async Task StatusAsync(CancellationToken ct)
    {
        var network = ChooseNetwork();
        if (!CniConfList.AtLeast(network.CniVersion, "1.1.0")) return;
        var list = CniConfList.Lift(network);
        var call = CniInvocation.ForNetwork("STATUS", PluginDirs);
        foreach (var plugin in CniConfList.Plugins(list))
        {
            var stdin = CniConfList.PluginConfig(plugin, network.Name, network.CniVersion, null, null);
            await CniPluginRunner.RunAsync(PluginPath(plugin), call, stdin, Timeout, ct);
        }
    }

    /// <summary>
    /// After a restart: DEL for cache entries of pods that have no record (the daemon died during their
    /// RunPodSandbox), so their addresses and host-side interfaces are released.
    /// </summary>
    public async Task RecoverAsync(IReadOnlySet<string> knownPodIds, CancellationToken ct)
    {
        foreach (var id in _cache.PodIds())
        {
            if (knownPodIds.Contains(id)) continue;
            try
            {
                var entry = _cache.Load(id);
                if (entry != null) await DeleteAsync(entry, NetNsOf(entry.NetNs), ct);
                _cache.Delete(id);
                log.Information("released the CNI attachment of pod {PodId}, whose creation was interrupted", id);
            }
            catch (Exception e) when (e is CniException or JsonException or IOException)
            {
                log.Warning("could not release the CNI attachment of interrupted pod {PodId}: {Error}", id, e.Message);
            }
        }
    }

    string PluginPath(JsonObject plugin)
    {
        var type = CniConfList.TypeOf(plugin);
        if (type.Contains('/') || type is "." or "..")
            throw new CniException($"CNI plugin type '{type}' is not a plain binary name");
        return CniConfigLoader.FindPlugin(PluginDirs, type)
            ?? throw new CniException($"CNI plugin binary {type} not found in {string.Join(":", PluginDirs)}");
    }

    /// <summary>The netns to pass: the pinned path while it is still a mount, else "" (plugins then skip in-netns cleanup).</summary>
    static string NetNsOf(string path) => path.Length > 0 && Mounts.IsMountPoint(path) ? path : "";
}
