using System.Text.Json;

namespace CriSharp.Network;

/// <summary>
/// Finds the CNI network to use in a conf dir: the named one, else the lexically first valid file,
/// and reports why none is usable (the text kubelet shows as NetworkReady's message).
/// </summary>
public static class CniConfigLoader
{
    public static readonly string[] SupportedVersions = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];
    static readonly string[] Extensions = [".conflist", ".conf", ".json"];

    /// <summary>The chosen network, or null with the reason in <paramref name="problem"/>.</summary>
    public static CniNetworkConfig? Find(string confDir, IReadOnlyList<string> pluginDirs, string networkName, out string problem)
    {
        if (!Directory.Exists(confDir))
        {
            problem = $"CNI config directory {confDir} does not exist";
            return null;
        }
        var files = Directory.GetFiles(confDir).Where(f => Extensions.Contains(Path.GetExtension(f))).ToArray();
        Array.Sort(files, StringComparer.Ordinal);
        if (files.Length == 0)
        {
            problem = $"no CNI configuration file in {confDir}";
            return null;
        }
        var rejected = new List<string>();
        foreach (var file in files)
        {
            CniNetworkConfig config;
            try
            {
                config = Parse(file, File.ReadAllText(file));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or FormatException)
            {
                rejected.Add($"{Path.GetFileName(file)}: {e.Message}");
                continue;
            }
            if (networkName.Length > 0 && config.Name != networkName)
                continue;
            var missing = config.PluginTypes.Where(t => FindPlugin(pluginDirs, t) == null).ToList();
            if (missing.Count > 0)
            {
                rejected.Add($"{Path.GetFileName(file)}: plugin binary {string.Join(", ", missing)} not found in {string.Join(":", pluginDirs)}");
                continue;
            }
            problem = "";
            return config;
        }
        var what = networkName.Length > 0 ? $"no usable CNI network named '{networkName}' in {confDir}" : $"no usable CNI configuration in {confDir}";
        problem = rejected.Count == 0 ? what : $"{what} ({string.Join("; ", rejected)})";
        return null;
    }

    /// <summary>Parses one config file's text; throws FormatException/JsonException naming what is wrong.</summary>
    public static CniNetworkConfig Parse(string path, string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new FormatException("not a JSON object");
        var name = RequiredString(root, "name");
        var version = RequiredString(root, "cniVersion");
        if (!SupportedVersions.Contains(version))
            throw new FormatException($"cniVersion {version} is not supported ({string.Join(", ", SupportedVersions)})");
        var types = new List<string>();
        if (path.EndsWith(".conflist", StringComparison.Ordinal))
        {
            if (!root.TryGetProperty("plugins", out var plugins) || plugins.ValueKind != JsonValueKind.Array || plugins.GetArrayLength() == 0)
                throw new FormatException("'plugins' must be a non-empty array");
            foreach (var p in plugins.EnumerateArray())
                types.Add(RequiredString(p, "type"));
        }
        else
        {
            types.Add(RequiredString(root, "type"));
        }
        foreach (var t in types)
            if (t.Contains('/') || t is "." or "..")
                throw new FormatException($"plugin type '{t}' is not a plain binary name");
        return new CniNetworkConfig(name, version, types, path, json);
    }

    /// <summary>The first plugin binary called <paramref name="type"/> in the plugin dirs.</summary>
    public static string? FindPlugin(IReadOnlyList<string> pluginDirs, string type) =>
        pluginDirs.Select(d => Path.Combine(d, type)).FirstOrDefault(File.Exists);

    static string RequiredString(JsonElement e, string key) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0
            ? v.GetString()!
            : throw new FormatException($"missing or empty string '{key}'");
}
