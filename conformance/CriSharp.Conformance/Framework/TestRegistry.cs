using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;

namespace CriSharp.Conformance.Framework;

/// <summary>A manifest or index as the registry serves it: raw bytes, their digest and media type.</summary>
public sealed record RegistryManifest(string Digest, string MediaType, JsonElement Json);

/// <summary>
/// The test registry started by <c>hack/test-registry.sh</c> (plain HTTP, anonymous pull), holding the
/// images <c>HOST:PORT/crisharp-test/{busybox:latest, twotags:v1, twotags:v2, multiarch:latest, nonroot:latest}</c>.
/// Cases read manifests from it directly to know the expected digests and ids.
/// </summary>
public sealed class TestRegistry(string host)
{
    private const string Namespace = "crisharp-test";

    private static readonly string[] ManifestTypes =
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ];

    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(20) };

    /// <summary>HOST:PORT.</summary>
    public string Host { get; } = host;

    /// <summary>Full reference of a test image, e.g. <c>Image("busybox:latest")</c>.</summary>
    public string Image(string nameAndTag) => $"{Host}/{Namespace}/{nameAndTag}";

    /// <summary>Full reference of an image outside <c>crisharp-test/</c>, e.g. <c>Path(CritestImages.Busybox)</c>.</summary>
    public string Path(string pathAndTag) => $"{Host}/{pathAndTag}";

    /// <summary>Repository without tag, e.g. <c>Repository("busybox")</c> = <c>HOST:PORT/crisharp-test/busybox</c>.</summary>
    public string Repository(string name) => $"{Host}/{Namespace}/{name}";

    /// <summary>GETs a manifest or index by tag or digest; the digest is the sha256 of the bytes served.</summary>
    public async Task<RegistryManifest> ManifestAsync(string name, string reference, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://{Host}/v2/{Namespace}/{name}/manifests/{reference}");
        foreach (var t in ManifestTypes)
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(t));
        }

        HttpResponseMessage response;
        try
        {
            response = await Http.SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            throw new CaseFailedException($"test registry {Host} unreachable ({e.Message}); is 'hack/test-registry.sh start' running?");
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw new CaseFailedException($"test registry: GET manifest {name}:{reference} answered {(int)response.StatusCode}");
            }

            var bytes = await response.Content.ReadAsByteArrayAsync(ct);
            var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));
            var json = JsonDocument.Parse(bytes).RootElement.Clone();
            var mediaType = response.Content.Headers.ContentType?.MediaType
                ?? (json.TryGetProperty("mediaType", out var m) ? m.GetString() : null) ?? "";
            return new RegistryManifest(digest, mediaType, json);
        }
    }

    /// <summary>The config digest (= CRI image id) of an image manifest.</summary>
    public static string ConfigDigest(RegistryManifest manifest) =>
        manifest.Json.TryGetProperty("config", out var config) && config.TryGetProperty("digest", out var d)
            ? d.GetString() ?? throw new CaseFailedException("manifest config digest is null")
            : throw new CaseFailedException($"manifest {manifest.Digest} has no config (media type {manifest.MediaType})");
}
