using System.Text.Json;
using CriSharp.Images.Content;
using CriSharp.Images.References;

namespace CriSharp.Images.Registry;

public sealed partial class RegistryClient
{
    /// <summary>A manifest or index as received, verified against the digests we were given.</summary>
    private sealed record FetchedManifest(Digest Digest, string MediaType, byte[] Bytes, ManifestDocument Document);

    /// <summary>
    /// Resolves a reference to its linux/amd64 manifest and config, trying the registry's mirrors in
    /// order and then (unless mirrors_only) the registry itself. Every byte received is verified.
    /// </summary>
    /// <exception cref="RegistryException">Nothing could be resolved; the kind says why.</exception>
    public async Task<ResolvedImage> ResolveAsync(ImageReference reference, RegistryCredentials? credentials, CancellationToken ct)
    {
        var endpoints = RegistryEndpoints.For(reference.Registry, _config.Current.Registries);
        var failures = new List<(RegistryEndpoint Endpoint, RegistryException Error)>();
        foreach (var endpoint in endpoints)
        {
            try
            {
                return await ResolveAtAsync(endpoint, reference, credentials, ct).ConfigureAwait(false);
            }
            catch (RegistryException e) when (endpoints.Count > 1)
            {
                _log.Warning("Resolving {Reference} at {Endpoint} failed: {Error}", reference.ToString(), endpoint.ToString(), e.Message);
                failures.Add((endpoint, e));
            }
        }
        var last = failures[^1].Error;
        throw new RegistryException(last.Reason,
            $"resolving {reference} failed at every endpoint: " + string.Join("; ", failures.Select(f => f.Error.Message)), last);
    }

    private async Task<ResolvedImage> ResolveAtAsync(RegistryEndpoint endpoint, ImageReference reference,
        RegistryCredentials? credentials, CancellationToken ct)
    {
        var state = await PrepareAsync(endpoint, reference.ToString(), ct).ConfigureAwait(false);
        var scope = new RequestScope(state.Effective with { ForbiddenHosts = endpoint.ForbiddenHosts, RepositoryPrefix = endpoint.RepositoryPrefix },
            state, reference.Repository, credentials);
        var top = await FetchManifestAsync(scope, reference.ManifestReference, reference.Digest, null, ct).ConfigureAwait(false);
        var manifest = top;
        Digest? indexDigest = null;
        if (ManifestMediaTypes.IsIndex(top.MediaType))
        {
            indexDigest = top.Digest;
            var entry = ChooseLinuxAmd64(top.Document, scope.Describe("index", reference.ManifestReference));
            manifest = await FetchManifestAsync(scope, entry.Digest.ToString(), entry.Digest, entry.Size, ct).ConfigureAwait(false);
            if (!ManifestMediaTypes.IsManifest(manifest.MediaType))
                throw new RegistryException(RegistryErrorKind.Unsupported,
                    $"{scope.Describe("manifest", entry.Digest.ToString())}: the index's linux/amd64 entry is itself a {manifest.MediaType}; nested indexes are not supported");
        }
        var what = scope.Describe("manifest", manifest.Digest.ToString());
        var config = ToDescriptor(manifest.Document.Config!, what);
        var layers = manifest.Document.Layers!.Select(l => ToDescriptor(l, what)).ToArray();
        var configBytes = await FetchConfigAsync(scope, config, ct).ConfigureAwait(false);
        _log.Debug("Resolved {Reference} to manifest {Digest} ({Layers} layers) at {Endpoint}",
            reference.ToString(), manifest.Digest.ToString(), layers.Length, scope.Endpoint.ToString());
        var resolved = new ResolvedImage(reference, manifest.Digest, indexDigest, manifest.MediaType, manifest.Bytes,
            config, configBytes, layers, scope.Endpoint);
        return resolved with { Credentials = credentials };
    }

    /// <summary>GETs a manifest (capped), checks it against <paramref name="expected"/> and Docker-Content-Digest, parses it.</summary>
    private async Task<FetchedManifest> FetchManifestAsync(RequestScope scope, string manifestReference, Digest? expected,
        long? expectedSize, CancellationToken ct)
    {
        var what = scope.Describe("manifest", manifestReference);
        var uri = scope.Endpoint.ManifestUri(scope.Repository, manifestReference);
        var (bytes, contentType, headerDigest) = await WithRetriesAsync(what, async t =>
        {
            using var response = await SendAsync(scope, uri, request =>
            {
                foreach (var mediaType in ManifestMediaTypes.Accepted) request.Headers.Accept.ParseAdd(mediaType);
            }, what, t).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) throw await StatusErrorAsync(response, what, t).ConfigureAwait(false);
            var body = await ReadCappedAsync(response, _options.MaxManifestBytes, what, t).ConfigureAwait(false);
            var digestHeader = response.Headers.TryGetValues("Docker-Content-Digest", out var values) ? values.FirstOrDefault() : null;
            return (body, response.Content.Headers.ContentType?.MediaType, digestHeader);
        }, ct).ConfigureAwait(false);

        var digest = Digest.Of(bytes);
        if (expected is { } wanted && digest != wanted)
            throw new RegistryException(RegistryErrorKind.Hostile, $"{what}: the registry sent content with digest {digest}, not the requested {wanted}");
        if (expectedSize is > 0 && bytes.LongLength != expectedSize)
            throw new RegistryException(RegistryErrorKind.Hostile, $"{what}: the registry sent {bytes.LongLength} bytes, the index says {expectedSize}");
        // Only a sha256 header can be checked; other algorithms are ignored rather than trusted.
        if (headerDigest is not null && headerDigest.StartsWith(Digest.Algorithm + ":", StringComparison.Ordinal))
        {
            if (!Digest.TryParse(headerDigest, out var announced) || announced != digest)
                throw new RegistryException(RegistryErrorKind.Hostile,
                    $"{what}: Docker-Content-Digest says {Clip(headerDigest, 80)} but the content's digest is {digest}");
        }
        var (mediaType, document) = ParseManifest(bytes, contentType, what);
        return new FetchedManifest(digest, mediaType, bytes, document);
    }

    /// <summary>Decides the media type (header, else the document's own field) and checks the shape.</summary>
    private static (string MediaType, ManifestDocument Document) ParseManifest(byte[] bytes, string? contentType, string what)
    {
        var declared = contentType?.Trim().ToLowerInvariant();
        if (declared is not null && ManifestMediaTypes.IsSchema1(declared)) throw Schema1(what, declared);
        ManifestDocument document;
        try
        {
            document = JsonSerializer.Deserialize(bytes, RegistryJsonContext.Default.ManifestDocument)
                ?? throw new JsonException("the document is null");
        }
        catch (JsonException e)
        {
            throw new RegistryException(RegistryErrorKind.Hostile, $"{what} is not a valid JSON manifest: {Clip(e.Message)}");
        }
        var mediaType = declared is null or "" or "application/json" or "application/octet-stream" or "text/plain"
            ? document.MediaType ?? (document.Manifests is not null ? ManifestMediaTypes.OciIndex : document.Config is not null ? ManifestMediaTypes.OciManifest : null)
            : declared;
        if (document.SchemaVersion == 1 || (mediaType is not null && ManifestMediaTypes.IsSchema1(mediaType)))
            throw Schema1(what, mediaType ?? "schemaVersion 1");
        if (mediaType is null || !(ManifestMediaTypes.IsIndex(mediaType) || ManifestMediaTypes.IsManifest(mediaType)))
            throw new RegistryException(RegistryErrorKind.Unsupported,
                $"{what} has media type '{Clip(mediaType ?? "(none)", 100)}', which is not supported (want an OCI or Docker schema 2 manifest or index)");
        if (document.MediaType is { } own && (ManifestMediaTypes.IsIndex(own) || ManifestMediaTypes.IsManifest(own))
            && ManifestMediaTypes.IsIndex(own) != ManifestMediaTypes.IsIndex(mediaType))
            throw new RegistryException(RegistryErrorKind.Hostile, $"{what} was served as {mediaType} but says it is {own}");
        if (ManifestMediaTypes.IsIndex(mediaType) && document.Manifests is null)
            throw new RegistryException(RegistryErrorKind.Hostile, $"{what} is an index without a manifests list");
        if (ManifestMediaTypes.IsManifest(mediaType) && (document.Config is null || document.Layers is null))
            throw new RegistryException(RegistryErrorKind.Hostile, $"{what} is a manifest without config or layers");
        return (mediaType, document);
    }

    private static RegistryException Schema1(string what, string mediaType) => new(RegistryErrorKind.Unsupported,
        $"{what} is a Docker schema 1 manifest ({mediaType}), which is not supported; push the image again as Docker schema 2 or OCI");

    /// <summary>linux/amd64, preferring an entry without variant, then variant v1.</summary>
    private static Descriptor ChooseLinuxAmd64(ManifestDocument index, string what)
    {
        var candidates = index.Manifests!.Where(m => m.Platform is { Os: "linux", Architecture: "amd64" }).ToList();
        var pick = candidates.FirstOrDefault(m => string.IsNullOrEmpty(m.Platform!.Variant))
            ?? candidates.FirstOrDefault(m => m.Platform!.Variant == "v1")
            ?? candidates.FirstOrDefault();
        if (pick is null)
        {
            var platforms = index.Manifests!.Select(m => m.Platform?.ToString() ?? "(no platform)").Distinct().Take(20);
            throw new RegistryException(RegistryErrorKind.NotFound, $"{what} has no linux/amd64 manifest (it has: {string.Join(", ", platforms)})");
        }
        return ToDescriptor(pick, what);
    }

    private static Descriptor ToDescriptor(DescriptorDocument d, string what)
    {
        if (!Digest.TryParse(d.Digest, out var digest))
        {
            var colon = d.Digest?.IndexOf(':') ?? -1;
            if (colon > 0 && d.Digest![..colon] != Digest.Algorithm)
                throw new RegistryException(RegistryErrorKind.Unsupported,
                    $"{what} references {Clip(d.Digest, 100)}: only sha256 digests are supported");
            throw new RegistryException(RegistryErrorKind.Hostile, $"{what} has an invalid digest '{Clip(d.Digest, 100)}'");
        }
        if (d.Size < 0) throw new RegistryException(RegistryErrorKind.Hostile, $"{what} gives {digest} a negative size");
        return new Descriptor(d.MediaType ?? "", digest, d.Size)
        {
            Urls = d.Urls ?? [],
            Annotations = d.Annotations ?? new Dictionary<string, string>(),
        };
    }

    /// <summary>GETs the config blob (same cap as manifests) and checks its size and digest.</summary>
    private async Task<byte[]> FetchConfigAsync(RequestScope scope, Descriptor config, CancellationToken ct)
    {
        var what = scope.Describe("config blob", config.Digest.ToString());
        if (config.Size > _options.MaxManifestBytes)
            throw new RegistryException(RegistryErrorKind.Hostile, $"{what} is {config.Size} bytes, over the {_options.MaxManifestBytes}-byte limit");
        var uri = scope.Endpoint.BlobUri(scope.Repository, config.Digest);
        var bytes = await WithRetriesAsync(what, async t =>
        {
            using var response = await SendAsync(scope, uri, null, what, t).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) throw await StatusErrorAsync(response, what, t).ConfigureAwait(false);
            return await ReadCappedAsync(response, _options.MaxManifestBytes, what, t).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
        if (bytes.LongLength != config.Size)
            throw new RegistryException(RegistryErrorKind.Hostile, $"{what}: the registry sent {bytes.LongLength} bytes, the manifest says {config.Size}");
        var digest = Digest.Of(bytes);
        if (digest != config.Digest)
            throw new RegistryException(RegistryErrorKind.Hostile, $"{what}: the registry sent content with digest {digest}");
        return bytes;
    }
}
