using Tomlyn;
using Tomlyn.Model;

namespace CriSharp.Configuration;

/// <summary>Where the config comes from: the main file, the drop-in directory and flag overrides.</summary>
public sealed record ConfigSources(
    string File = ConfigSources.DefaultFile,
    string DropInDir = ConfigSources.DefaultDropInDir,
    IReadOnlyList<KeyValuePair<string, string>>? Overrides = null,
    bool FileMustExist = false)
{
    public const string DefaultFile = "/etc/crisharp/crisharp.toml";
    public const string DefaultDropInDir = "/etc/crisharp/crisharp.d";
}

/// <summary>
/// Builds the effective config: defaults, then the main TOML file, then drop-ins in lexical
/// order, then flags. Any unknown key, wrong type or invalid value is a <see cref="ConfigException"/>.
/// </summary>
public static class ConfigLoader
{
    public static DaemonConfig Load(ConfigSources sources)
    {
        var config = new DaemonConfig();
        if (Directory.Exists(sources.File))
            throw new ConfigException(sources.File, "", "is a directory, not a config file");
        if (File.Exists(sources.File))
            ApplyFile(config, sources.File);
        else if (sources.FileMustExist)
            throw new ConfigException(sources.File, "", "file does not exist");

        if (Directory.Exists(sources.DropInDir))
        {
            var dropIns = Directory.GetFiles(sources.DropInDir, "*.toml");
            Array.Sort(dropIns, StringComparer.Ordinal);
            foreach (var f in dropIns) ApplyFile(config, f);
        }

        foreach (var (key, value) in sources.Overrides ?? [])
            ApplyOverride(config, key, value);

        ConfigValidator.Validate(config);
        return config;
    }

    /// <summary>Parses one TOML text and applies it over <paramref name="config"/>.</summary>
    public static void ApplyText(DaemonConfig config, string text, string origin)
    {
        TomlTable table;
        try
        {
            table = TomlSerializer.Deserialize<TomlTable>(text, ConfigTomlContext.Default) ?? new TomlTable();
        }
        catch (TomlException e)
        {
            throw new ConfigException(origin, "", $"invalid TOML: {e.Message}");
        }
        ApplyTable(config, table, origin);
    }

    static void ApplyFile(DaemonConfig config, string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException(path, "", $"cannot read file: {e.Message}");
        }
        ApplyText(config, text, path);
    }

    static void ApplyTable(DaemonConfig config, TomlTable table, string origin)
    {
        foreach (var (key, value) in table)
        {
            switch (key)
            {
                case "runtimes":
                    foreach (var (name, entry) in AsTable(value, origin, "runtimes"))
                    {
                        if (!config.Runtimes.TryGetValue(name, out var handler))
                            config.Runtimes[name] = handler = new RuntimeHandlerConfig();
                        ApplyKeys(handler, AsTable(entry, origin, $"runtimes.{name}"), ConfigSchema.Runtime, origin, $"runtimes.{name}.");
                    }
                    break;
                case "network":
                    ApplyKeys(config.Network, AsTable(value, origin, key), ConfigSchema.Network, origin, "network.");
                    break;
                case "stream":
                    ApplyKeys(config.Stream, AsTable(value, origin, key), ConfigSchema.Stream, origin, "stream.");
                    break;
                case "images":
                    ApplyKeys(config.Images, AsTable(value, origin, key), ConfigSchema.Images, origin, "images.");
                    break;
                case "metrics":
                    ApplyKeys(config.Metrics, AsTable(value, origin, key), ConfigSchema.Metrics, origin, "metrics.");
                    break;
                case "cdi":
                    ApplyKeys(config.Cdi, AsTable(value, origin, key), ConfigSchema.Cdi, origin, "cdi.");
                    break;
                case "registries":
                    ApplyRegistries(config.Registries, AsTable(value, origin, key), origin);
                    break;
                default:
                    ApplyKey(config, key, value, ConfigSchema.Top, origin, "");
                    break;
            }
        }
    }

    static void ApplyRegistries(RegistriesConfig registries, TomlTable table, string origin)
    {
        foreach (var (key, value) in table)
        {
            if (key != "hosts")
            {
                ApplyKey(registries, key, value, ConfigSchema.Registries, origin, "registries.");
                continue;
            }
            foreach (var (host, entry) in AsTable(value, origin, "registries.hosts"))
            {
                if (!registries.Hosts.TryGetValue(host, out var hostConfig))
                    registries.Hosts[host] = hostConfig = new RegistryHostConfig();
                ApplyKeys(hostConfig, AsTable(entry, origin, $"registries.hosts.\"{host}\""), ConfigSchema.RegistryHost, origin, $"registries.hosts.\"{host}\".");
            }
        }
    }

    static void ApplyKeys(object section, TomlTable table, IReadOnlyList<ConfigKey> keys, string origin, string prefix)
    {
        foreach (var (key, value) in table)
            ApplyKey(section, key, value, keys, origin, prefix);
    }

    static void ApplyKey(object section, string key, object value, IReadOnlyList<ConfigKey> keys, string origin, string prefix)
    {
        var spec = keys.FirstOrDefault(k => k.Name == key)
            ?? throw new ConfigException(origin, prefix + key, "unknown key");
        spec.Set(section, Convert(value, spec.Kind, origin, prefix + key));
    }

    static object Convert(object value, ConfigValueKind kind, string origin, string key)
    {
        switch (kind)
        {
            case ConfigValueKind.String when value is string s:
                return s;
            case ConfigValueKind.Integer when value is long l:
                return l;
            case ConfigValueKind.Boolean when value is bool b:
                return b;
            case ConfigValueKind.StringArray when value is TomlArray array:
                var list = new List<string>(array.Count);
                foreach (var item in array)
                    list.Add(item as string ?? throw new ConfigException(origin, key, $"expected an array of strings, found an element of type {TypeName(item)}"));
                return list;
            default:
                throw new ConfigException(origin, key, $"expected {KindName(kind)}, found {TypeName(value)}");
        }
    }

    static TomlTable AsTable(object value, string origin, string key) =>
        value as TomlTable ?? throw new ConfigException(origin, key, $"expected a table, found {TypeName(value)}");

    /// <summary>Applies a flag override such as ("stream.port", "10011"), typed by the schema.</summary>
    public static void ApplyOverride(DaemonConfig config, string key, string value)
    {
        var origin = $"flag --{key.Replace('_', '-').Replace('.', '-')}";
        var (section, keys, name) = key.Split('.') switch
        {
            [var k] => ((object)config, ConfigSchema.Top, k),
            ["network", var k] => (config.Network, ConfigSchema.Network, k),
            ["stream", var k] => (config.Stream, ConfigSchema.Stream, k),
            ["registries", var k] => (config.Registries, ConfigSchema.Registries, k),
            ["images", var k] => (config.Images, ConfigSchema.Images, k),
            ["metrics", var k] => (config.Metrics, ConfigSchema.Metrics, k),
            ["cdi", var k] => (config.Cdi, ConfigSchema.Cdi, k),
            _ => throw new ConfigException(origin, key, "unknown key"),
        };
        var spec = keys.FirstOrDefault(k => k.Name == name) ?? throw new ConfigException(origin, key, "unknown key");
        object typed = spec.Kind switch
        {
            ConfigValueKind.String => value,
            ConfigValueKind.Integer => long.TryParse(value, out var l) ? l : throw new ConfigException(origin, key, $"expected an integer, found '{value}'"),
            ConfigValueKind.Boolean => bool.TryParse(value, out var b) ? b : throw new ConfigException(origin, key, $"expected true or false, found '{value}'"),
            _ => value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList(),
        };
        spec.Set(section, typed);
    }

    static string KindName(ConfigValueKind kind) => kind switch
    {
        ConfigValueKind.String => "a string",
        ConfigValueKind.Integer => "an integer",
        ConfigValueKind.Boolean => "a boolean",
        _ => "an array of strings",
    };

    static string TypeName(object? value) => value switch
    {
        string => "a string",
        long => "an integer",
        double => "a float",
        bool => "a boolean",
        TomlArray => "an array",
        TomlTable => "a table",
        TomlTableArray => "an array of tables",
        null => "nothing",
        _ => "a date/time",
    };
}
