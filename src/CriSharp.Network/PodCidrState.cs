using System.Net;

namespace CriSharp.Network;

/// <summary>The node's pod CIDRs as last sent by kubelet through UpdateRuntimeConfig.</summary>
public sealed class PodCidrState
{
    volatile IReadOnlyList<string> _cidrs = [];

    public IReadOnlyList<string> Cidrs => _cidrs;

    /// <summary>Stores a comma-separated list of CIDRs; empty clears nothing (kubelet sends it when unknown).</summary>
    public void Update(string podCidr)
    {
        if (string.IsNullOrWhiteSpace(podCidr)) return;
        var parts = podCidr.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        foreach (var p in parts)
            if (!IPNetwork.TryParse(p, out _))
                throw new FormatException($"'{p}' is not a CIDR");
        _cidrs = parts;
    }
}
