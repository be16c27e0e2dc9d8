using System.Text.Json.Serialization;

namespace CriSharp.Images.Registry;

/// <summary>Manifest media types the client asks for, recognises or refuses.</summary>
public static class ManifestMediaTypes
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
    public const string DockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";

    /// <summary>The Accept header of manifest requests (schema 1 deliberately absent).</summary>
    public static readonly IReadOnlyList<string> Accepted = [OciManifest, OciIndex, DockerManifest, DockerManifestList];

    public static bool IsIndex(string mediaType) => mediaType is OciIndex or DockerManifestList;
    public static bool IsManifest(string mediaType) => mediaType is OciManifest or DockerManifest;
    public static bool IsSchema1(string mediaType) => mediaType is DockerSchema1 or DockerSchema1Signed;
}

/// <summary>The parts of an image manifest or index we read (both shapes in one type).</summary>
internal sealed class ManifestDocument
{
    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; set; }
    [JsonPropertyName("mediaType")] public string? MediaType { get; set; }
    [JsonPropertyName("config")] public DescriptorDocument? Config { get; set; }
    [JsonPropertyName("layers")] public List<DescriptorDocument>? Layers { get; set; }
    [JsonPropertyName("manifests")] public List<DescriptorDocument>? Manifests { get; set; }
}

/// <summary>An OCI/Docker descriptor as written in JSON.</summary>
internal sealed class DescriptorDocument
{
    [JsonPropertyName("mediaType")] public string? MediaType { get; set; }
    [JsonPropertyName("digest")] public string? Digest { get; set; }
    [JsonPropertyName("size")] public long Size { get; set; }
    [JsonPropertyName("urls")] public List<string>? Urls { get; set; }
    [JsonPropertyName("annotations")] public Dictionary<string, string>? Annotations { get; set; }
    [JsonPropertyName("platform")] public PlatformDocument? Platform { get; set; }
}

/// <summary>The platform of an index entry.</summary>
internal sealed class PlatformDocument
{
    [JsonPropertyName("os")] public string? Os { get; set; }
    [JsonPropertyName("architecture")] public string? Architecture { get; set; }
    [JsonPropertyName("variant")] public string? Variant { get; set; }

    public override string ToString() =>
        string.IsNullOrEmpty(Variant) ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";
}

/// <summary>A token server's answer (Docker token spec: <c>token</c>, OAuth2: <c>access_token</c>).</summary>
internal sealed class TokenResponse
{
    [JsonPropertyName("token")] public string? Token { get; set; }
    [JsonPropertyName("access_token")] public string? AccessToken { get; set; }
    [JsonPropertyName("expires_in")] public long ExpiresIn { get; set; }
}

/// <summary>The distribution API's error body: <c>{"errors":[{"code":..,"message":..}]}</c>.</summary>
internal sealed class ErrorsDocument
{
    [JsonPropertyName("errors")] public List<ErrorDocument>? Errors { get; set; }
}

/// <summary>One entry of <see cref="ErrorsDocument"/>.</summary>
internal sealed class ErrorDocument
{
    [JsonPropertyName("code")] public string? Code { get; set; }
    [JsonPropertyName("message")] public string? Message { get; set; }
}

/// <summary>Source-generated (reflection-free) JSON for registry documents.</summary>
[JsonSourceGenerationOptions(NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(ManifestDocument))]
[JsonSerializable(typeof(TokenResponse))]
[JsonSerializable(typeof(ErrorsDocument))]
internal sealed partial class RegistryJsonContext : JsonSerializerContext;
