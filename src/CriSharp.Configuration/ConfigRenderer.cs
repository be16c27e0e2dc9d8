using System.Text;

namespace CriSharp.Configuration;

/// <summary>Writes a config as TOML, optionally with a one-line comment above every key.</summary>
public static class ConfigRenderer
{
    public static string Render(DaemonConfig c, bool withComments)
    {
        var sb = new StringBuilder();
        if (withComments)
            sb.AppendLine("# crisharp configuration: /etc/crisharp/crisharp.toml, then /etc/crisharp/crisharp.d/*.toml in lexical order, then flags.");
        Keys(sb, c, ConfigSchema.Top, withComments);
        foreach (var (name, handler) in c.Runtimes)
            Table(sb, $"runtimes.{name}", handler, ConfigSchema.Runtime, withComments, "An OCI runtime handler, selected by the pod's runtime_handler.");
        Table(sb, "network", c.Network, ConfigSchema.Network, withComments, "CNI pod networking.");
        Table(sb, "registries", c.Registries, ConfigSchema.Registries, withComments, "Image registries.");
        if (withComments && c.Registries.Hosts.Count == 0)
        {
            sb.AppendLine();
            sb.AppendLine("# Per-host registry settings, for example:");
            sb.AppendLine("# [registries.hosts.\"registry.k8s.io\"]");
            foreach (var k in ConfigSchema.RegistryHost)
                sb.AppendLine($"# {k.Name} = {Value(k.Get(new RegistryHostConfig()))}  # {k.Comment}");
        }
        foreach (var (host, h) in c.Registries.Hosts)
            Table(sb, $"registries.hosts.{Quote(host)}", h, ConfigSchema.RegistryHost, withComments, null);
        Table(sb, "images", c.Images, ConfigSchema.Images, withComments, "Image pulls.");
        Table(sb, "stream", c.Stream, ConfigSchema.Stream, withComments, "The streaming server for exec, attach and port-forward.");
        Table(sb, "metrics", c.Metrics, ConfigSchema.Metrics, withComments, "Prometheus metrics endpoint.");
        Table(sb, "cdi", c.Cdi, ConfigSchema.Cdi, withComments, "CDI devices (ContainerConfig.CDI_devices and cdi.k8s.io/ annotations).");
        return sb.ToString();
    }

    static void Table(StringBuilder sb, string name, object section, IReadOnlyList<ConfigKey> keys, bool comments, string? comment)
    {
        sb.AppendLine();
        if (comments && comment != null) sb.AppendLine($"# {comment}");
        sb.AppendLine($"[{name}]");
        Keys(sb, section, keys, comments);
    }

    static void Keys(StringBuilder sb, object section, IReadOnlyList<ConfigKey> keys, bool comments)
    {
        foreach (var k in keys)
        {
            if (comments) sb.AppendLine($"# {k.Comment}");
            sb.AppendLine($"{k.Name} = {Value(k.Get(section))}");
        }
    }

    static string Value(object v) => v switch
    {
        string s => Quote(s),
        long l => l.ToString(System.Globalization.CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        List<string> list => "[" + string.Join(", ", list.Select(Quote)) + "]",
        _ => throw new InvalidOperationException($"no TOML form for {v.GetType()}"),
    };

    /// <summary>A TOML basic string with the escapes TOML requires.</summary>
    public static string Quote(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (var ch in s)
        {
            switch (ch)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\t': sb.Append("\\t"); break;
                case '\r': sb.Append("\\r"); break;
                default:
                    if (char.IsControl(ch)) sb.Append($"\\u{(int)ch:X4}");
                    else sb.Append(ch);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
