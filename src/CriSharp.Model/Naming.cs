using System.Security.Cryptography;

namespace CriSharp.Model;

/// <summary>Ids and reserved names for sandboxes and containers.</summary>
public static class Naming
{
    /// <summary>A new 64-hex id, as kubelet and crictl expect.</summary>
    public static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    public static string SandboxName(string name, string ns, string uid, uint attempt) => $"{name}_{ns}_{uid}_{attempt}";

    public static string ContainerName(string name, string sandboxName, string sandboxNs, string sandboxUid, uint attempt) =>
        $"{name}_{sandboxName}_{sandboxNs}_{sandboxUid}_{attempt}";

    /// <summary>Unix time now in nanoseconds.</summary>
    public static long NowNanos() => (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100;
}
