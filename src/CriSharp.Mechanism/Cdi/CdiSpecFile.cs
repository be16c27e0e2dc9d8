using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace CriSharp.Mechanism.Cdi;

/// <summary>One loaded and validated CDI spec file: its kind and its devices by name.</summary>
public sealed class CdiSpecFile
{
    /// <summary>The file's path.</summary>
    public string Path { get; }

    public CdiSpec Spec { get; }

    /// <summary>The spec's kind, "vendor/class".</summary>
    public string Kind => Spec.Kind;

    /// <summary>The spec's devices by (unqualified) name.</summary>
    public IReadOnlyDictionary<string, CdiDevice> Devices { get; }

    CdiSpecFile(string path, CdiSpec spec, IReadOnlyDictionary<string, CdiDevice> devices) =>
        (Path, Spec, Devices) = (path, spec, devices);

    /// <summary>Reads and validates a *.json or *.yaml spec file; throws <see cref="CdiSpecException"/> naming the file.</summary>
    public static CdiSpecFile Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CdiSpecException(path, $"cannot read: {e.Message}");
        }
        return Parse(path, text);
    }

    /// <summary>
    /// Parses and validates spec text; the format follows the path's extension (".yaml"/".yml" is YAML, anything else JSON).
    /// Throws <see cref="CdiSpecException"/> naming <paramref name="path"/>.
    /// </summary>
    public static CdiSpecFile Parse(string path, string text)
    {
        var spec = Deserialize(path, text);
        var error = CdiVersions.Check(spec)
            ?? CdiNames.CheckKind(spec.Kind)
            ?? CdiEditsValidator.Check(spec.ContainerEdits, "spec");
        if (error is not null) throw new CdiSpecException(path, error);
        return new CdiSpecFile(path, spec, ValidDevices(path, spec));
    }

    static IReadOnlyDictionary<string, CdiDevice> ValidDevices(string path, CdiSpec spec)
    {
        var devices = new Dictionary<string, CdiDevice>(StringComparer.Ordinal);
        foreach (var device in spec.Devices ?? [])
        {
            if (device is null) throw new CdiSpecException(path, "devices has a null entry");
            if (CdiNames.CheckDeviceName(device.Name) is { } nameError) throw new CdiSpecException(path, nameError);
            if (CdiEditsValidator.Check(device.ContainerEdits, $"device \"{device.Name}\"") is { } editsError)
                throw new CdiSpecException(path, editsError);
            if (!devices.TryAdd(device.Name, device)) throw new CdiSpecException(path, $"device \"{device.Name}\" is defined twice");
        }
        if (devices.Count == 0) throw new CdiSpecException(path, "the spec defines no devices");
        return devices;
    }

    static CdiSpec Deserialize(string path, string text)
    {
        var yaml = path.EndsWith(".yaml", StringComparison.Ordinal) || path.EndsWith(".yml", StringComparison.Ordinal);
        try
        {
            CdiSpec? spec;
            if (yaml)
            {
                var node = YamlToJson.Convert(text);
                spec = node is JsonObject or null ? node.Deserialize(CdiJsonContext.Default.CdiSpec) : throw new FormatException("the document is not a mapping");
            }
            else
            {
                spec = JsonSerializer.Deserialize(text, CdiJsonContext.Default.CdiSpec);
            }
            return spec ?? throw new CdiSpecException(path, "the file holds no spec");
        }
        catch (FormatException e)
        {
            throw new CdiSpecException(path, e.Message);
        }
        catch (JsonException e)
        {
            throw new CdiSpecException(path, $"invalid {(yaml ? "spec" : "JSON")}: {e.Message}");
        }
    }
}
