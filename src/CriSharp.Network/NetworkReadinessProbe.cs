using CriSharp.Configuration;
using CriSharp.Model;

namespace CriSharp.Network;

/// <summary>Decides NetworkReady from the CNI conf dir and plugin dirs.</summary>
public sealed class NetworkReadinessProbe(LiveConfig config)
{
    public const string NotReadyReason = "NetworkPluginNotReady";

    public Readiness Check()
    {
        var n = config.Current.Network;
        return CniConfigLoader.Find(n.ConfDir, n.PluginDirs, n.NetworkName, out var problem) != null
            ? Readiness.Yes
            : new(false, NotReadyReason, $"Network plugin returns error: {problem}");
    }
}
