using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using CriSharp.State;

namespace CriSharp.Network;

/// <summary>
/// What a pod's ADD used and produced, so DEL and CHECK run against the same network even after the conf
/// dir changed or the daemon restarted. <see cref="Result"/> is null while the ADD has not finished.
/// </summary>
public sealed record CniCacheEntry
{
    public required string PodId { get; init; }
    public required string NetworkName { get; init; }
    public required string CniVersion { get; init; }
    /// <summary>The file the network came from (for messages only).</summary>
    public string ConfigFile { get; init; } = "";
    /// <summary>The network as a list (a .conf lifted into one plugin).</summary>
    public required JsonObject ConfList { get; init; }
    public required string IfName { get; init; }
    public string NetNs { get; init; } = "";
    public string CniArgs { get; init; } = "";
    public JsonObject? CapabilityArgs { get; init; }
    public JsonObject? Result { get; init; }
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(CniCacheEntry))]
internal sealed partial class CniJsonContext : JsonSerializerContext;

/// <summary>One atomic JSON file per pod under <c>&lt;root&gt;/cni</c>; kept across restarts (and reboots, for IPAM release).</summary>
public sealed class CniCache(string dir)
{
    public string Dir => dir;

    string PathOf(string podId) => Path.Combine(dir, podId + ".json");

    public void Write(CniCacheEntry entry)
    {
        Directory.CreateDirectory(dir);
        AtomicFile.Write(PathOf(entry.PodId), JsonSerializer.SerializeToUtf8Bytes(entry, CniJsonContext.Default.CniCacheEntry));
    }

    /// <summary>The pod's entry, or null if there is none; throws <see cref="JsonException"/> for an unreadable one.</summary>
    public CniCacheEntry? Load(string podId)
    {
        var path = PathOf(podId);
        if (!File.Exists(path)) return null;
        return JsonSerializer.Deserialize(File.ReadAllBytes(path), CniJsonContext.Default.CniCacheEntry)
            ?? throw new JsonException($"{path}: empty cache entry");
    }

    public void Delete(string podId) => AtomicFile.Delete(PathOf(podId));

    /// <summary>The pod ids with an entry.</summary>
    public IReadOnlyList<string> PodIds()
    {
        if (!Directory.Exists(dir)) return [];
        AtomicFile.RemoveLeftoverTemps(dir);
        return Directory.EnumerateFiles(dir, "*.json").Select(f => Path.GetFileNameWithoutExtension(f)).Order(StringComparer.Ordinal).ToList();
    }
}
