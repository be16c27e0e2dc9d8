namespace CriSharp.Network;

/// <summary>A parsed CNI network configuration (a .conflist, or a single-plugin .conf/.json lifted into a list).</summary>
public sealed record CniNetworkConfig(string Name, string CniVersion, IReadOnlyList<string> PluginTypes, string FilePath, string Json);
