using System.Text.Json;
using System.Text.Json.Serialization;

namespace CriSharp.Images;

/// <summary>The parts of an OCI image config (application/vnd.oci.image.config.v1+json) the runtime uses.</summary>
public sealed class ImageConfig
{
    [JsonPropertyName("architecture")] public string? Architecture { get; set; }
    [JsonPropertyName("os")] public string? Os { get; set; }
    [JsonPropertyName("config")] public ImageRunConfig? Config { get; set; }
    [JsonPropertyName("rootfs")] public ImageRootFs? RootFs { get; set; }

    public static ImageConfig Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, ImagesJsonContext.Default.ImageConfig)
                ?? throw new FormatException("image config is JSON null");
        }
        catch (JsonException e)
        {
            throw new FormatException($"image config is not valid JSON: {e.Message}");
        }
    }

    /// <summary>The diff ids (uncompressed layer digests), validated.</summary>
    public IReadOnlyList<Content.Digest> DiffIds() =>
        (RootFs?.DiffIds ?? []).Select(d => Content.Digest.TryParse(d, out var x) ? x : throw new FormatException($"invalid diff_id '{d}' in image config")).ToList();
}

/// <summary>The image's default process settings (the config's "config" object).</summary>
public sealed class ImageRunConfig
{
    [JsonPropertyName("User")] public string? User { get; set; }
    [JsonPropertyName("Env")] public List<string>? Env { get; set; }
    [JsonPropertyName("Entrypoint")] public List<string>? Entrypoint { get; set; }
    [JsonPropertyName("Cmd")] public List<string>? Cmd { get; set; }
    [JsonPropertyName("WorkingDir")] public string? WorkingDir { get; set; }
    [JsonPropertyName("StopSignal")] public string? StopSignal { get; set; }
    [JsonPropertyName("Labels")] public Dictionary<string, string>? Labels { get; set; }
    [JsonPropertyName("Volumes")] public Dictionary<string, JsonElement>? Volumes { get; set; }
    [JsonPropertyName("ExposedPorts")] public Dictionary<string, JsonElement>? ExposedPorts { get; set; }
}

/// <summary>The config's rootfs object: the ordered diff ids of the layers.</summary>
public sealed class ImageRootFs
{
    [JsonPropertyName("type")] public string? Type { get; set; }
    [JsonPropertyName("diff_ids")] public List<string>? DiffIds { get; set; }
}
