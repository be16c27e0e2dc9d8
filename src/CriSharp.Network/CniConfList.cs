using System.Text;
using System.Text.Json.Nodes;
using CriSharp.Model;

namespace CriSharp.Network;

/// <summary>
/// Builds what a plugin reads: the network list (a .conf lifted into a one-plugin list), each plugin's
/// stdin config (name, cniVersion, prevResult, runtimeConfig) and the CNI_ARGS and capability args of a pod.
/// </summary>
public static class CniConfList
{
    /// <summary>The capabilities CriSharp fills in, when a plugin declares them.</summary>
    public const string PortMappingsCapability = "portMappings";
    public const string DnsCapability = "dns";
    public const string PodAnnotationsCapability = "io.kubernetes.cri.pod-annotations";

    /// <summary>The network as a list: a .conflist as it is, a single-plugin .conf/.json as the one entry of "plugins".</summary>
    public static JsonObject Lift(CniNetworkConfig config)
    {
        var root = JsonNode.Parse(config.Json) as JsonObject ?? throw new FormatException($"{config.FilePath}: not a JSON object");
        if (config.FilePath.EndsWith(".conflist", StringComparison.Ordinal)) return root;
        return new JsonObject
        {
            ["cniVersion"] = config.CniVersion,
            ["name"] = config.Name,
            ["plugins"] = new JsonArray(root),
        };
    }

    /// <summary>The plugin entries of a lifted list.</summary>
    public static IReadOnlyList<JsonObject> Plugins(JsonObject list) =>
        list["plugins"] is JsonArray a ? a.OfType<JsonObject>().ToList() : [];

    /// <summary>A plugin's "type" (its binary name).</summary>
    public static string TypeOf(JsonObject plugin) =>
        plugin["type"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new FormatException("plugin without a 'type'");

    /// <summary>
    /// One plugin's stdin: its own config with the list's name and cniVersion, the previous result (chained
    /// plugins, DEL, CHECK) and a runtimeConfig holding only the capabilities it declares as true.
    /// </summary>
    public static JsonObject PluginConfig(JsonObject plugin, string name, string cniVersion, JsonObject? prevResult, JsonObject? capabilityArgs)
    {
        var conf = (JsonObject)plugin.DeepClone();
        conf["name"] = name;
        conf["cniVersion"] = cniVersion;
        if (prevResult != null) conf["prevResult"] = prevResult.DeepClone();
        else conf.Remove("prevResult");
        if (capabilityArgs != null && plugin["capabilities"] is JsonObject caps)
        {
            var runtimeConfig = new JsonObject();
            foreach (var (capability, supported) in caps)
                if (supported is JsonValue sv && sv.TryGetValue<bool>(out var yes) && yes && capabilityArgs[capability] is { } data)
                    runtimeConfig[capability] = data.DeepClone();
            if (runtimeConfig.Count > 0) conf["runtimeConfig"] = runtimeConfig;
        }
        return conf;
    }

    /// <summary>The args kubelet's network plugins expect (as containerd and CRI-O pass them).</summary>
    public static string CniArgs(PodSandbox pod)
    {
        var sb = new StringBuilder("IgnoreUnknown=1");
        sb.Append(";K8S_POD_NAMESPACE=").Append(pod.Spec.Namespace);
        sb.Append(";K8S_POD_NAME=").Append(pod.Spec.Name);
        sb.Append(";K8S_POD_INFRA_CONTAINER_ID=").Append(pod.Id);
        sb.Append(";K8S_POD_UID=").Append(pod.Spec.Uid);
        return sb.ToString();
    }

    /// <summary>The runtimeConfig data a pod offers: its host ports, DNS settings and annotations.</summary>
    public static JsonObject CapabilityArgs(PodSandbox pod)
    {
        var ports = new JsonArray();
        foreach (var p in pod.Spec.PortMappings.Where(p => p.HostPort > 0))
        {
            var m = new JsonObject
            {
                ["hostPort"] = p.HostPort,
                ["containerPort"] = p.ContainerPort,
                ["protocol"] = (p.Protocol.Length == 0 ? "tcp" : p.Protocol).ToLowerInvariant(),
            };
            if (p.HostIp.Length > 0) m["hostIP"] = p.HostIp;
            ports.Add((JsonNode)m);
        }
        var annotations = new JsonObject();
        foreach (var (k, v) in pod.Spec.Annotations.OrderBy(a => a.Key, StringComparer.Ordinal)) annotations[k] = v;
        var args = new JsonObject
        {
            [PortMappingsCapability] = ports,
            [PodAnnotationsCapability] = annotations,
        };
        if (pod.Spec.DnsServers.Count + pod.Spec.DnsSearches.Count + pod.Spec.DnsOptions.Count > 0)
            args[DnsCapability] = new JsonObject
            {
                ["servers"] = Strings(pod.Spec.DnsServers),
                ["searches"] = Strings(pod.Spec.DnsSearches),
                ["options"] = Strings(pod.Spec.DnsOptions),
            };
        return args;
    }

    static JsonArray Strings(IEnumerable<string> values) => new([.. values.Select(v => (JsonNode?)JsonValue.Create(v))]);

    /// <summary>True when spec version <paramref name="version"/> is at least <paramref name="min"/>.</summary>
    public static bool AtLeast(string version, string min) =>
        Version.TryParse(version, out var v) && Version.TryParse(min, out var m) && v >= m;
}
