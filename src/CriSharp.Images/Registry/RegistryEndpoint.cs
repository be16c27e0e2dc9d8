using System.Net;
using CriSharp.Configuration;
using CriSharp.Images.Content;
using CriSharp.Images.References;

namespace CriSharp.Images.Registry;

/// <summary>
/// One place a registry's content is fetched from: the upstream host or one of its mirrors, with the
/// transport rules that apply to it.
/// </summary>
/// <param name="Registry">The registry name of the reference (e.g. <c>docker.io</c>).</param>
/// <param name="BaseUri">scheme://host[:port]/ under which <c>/v2/</c> lives.</param>
/// <param name="RepositoryPrefix">A mirror's namespace prefix ("" for none): <c>mirror/prefix</c> serves <c>prefix/&lt;repo&gt;</c>.</param>
/// <param name="IsMirror">True for a configured mirror.</param>
/// <param name="SkipTlsVerify">The host is configured insecure: HTTPS without certificate checks.</param>
/// <param name="CaDir">Directory of extra trusted <c>*.crt</c> roots ("" for none).</param>
/// <param name="PlainHttpFallback">HTTPS may fall back to plain HTTP (insecure or loopback hosts).</param>
public sealed record RegistryEndpoint(string Registry, Uri BaseUri, string RepositoryPrefix, bool IsMirror,
    bool SkipTlsVerify, string CaDir, bool PlainHttpFallback)
{
    /// <summary>Hosts no request made for this endpoint may reach (the upstream when mirrors_only is set).</summary>
    public IReadOnlyList<string> ForbiddenHosts { get; init; } = [];

    /// <summary>True when requests go over plain HTTP.</summary>
    public bool IsPlainHttp => BaseUri.Scheme == Uri.UriSchemeHttp;

    /// <summary>The repository path on this endpoint (mirror prefix applied).</summary>
    public string RepositoryPath(string repository) =>
        RepositoryPrefix.Length == 0 ? repository : $"{RepositoryPrefix}/{repository}";

    /// <summary>The API version check URI, <c>/v2/</c>.</summary>
    public Uri PingUri => new(BaseUri, "v2/");

    /// <summary><c>/v2/&lt;repo&gt;/manifests/&lt;tag-or-digest&gt;</c>.</summary>
    public Uri ManifestUri(string repository, string reference) => new(BaseUri, $"v2/{RepositoryPath(repository)}/manifests/{reference}");

    /// <summary><c>/v2/&lt;repo&gt;/blobs/&lt;digest&gt;</c>.</summary>
    public Uri BlobUri(string repository, Digest digest) => new(BaseUri, $"v2/{RepositoryPath(repository)}/blobs/{digest}");

    /// <summary>The same endpoint over plain HTTP (after HTTPS failed on a host that allows it).</summary>
    public RegistryEndpoint AsPlainHttp() =>
        this with { BaseUri = new UriBuilder(BaseUri) { Scheme = Uri.UriSchemeHttp, Port = BaseUri.IsDefaultPort ? -1 : BaseUri.Port }.Uri, PlainHttpFallback = false };

    /// <inheritdoc />
    public override string ToString()
    {
        var location = BaseUri.GetLeftPart(UriPartial.Authority) + (RepositoryPrefix.Length == 0 ? "" : "/" + RepositoryPrefix);
        return IsMirror ? $"mirror {location}" : location;
    }
}

/// <summary>Chooses the endpoints for a registry from <c>[registries]</c>: mirrors in order, then the upstream unless mirrors_only.</summary>
public static class RegistryEndpoints
{
    /// <summary>The endpoints to try, in order, for <paramref name="registry"/> (a normalised reference's registry).</summary>
    /// <exception cref="RegistryException">A configured mirror location cannot be understood.</exception>
    public static IReadOnlyList<RegistryEndpoint> For(string registry, RegistriesConfig registries)
    {
        var apiHost = registry == ImageReference.DockerHub ? ImageReference.DockerHubApiHost : registry;
        var hostConfig = FindHostConfig(registries, registry) ?? FindHostConfig(registries, apiHost);
        var forbidden = hostConfig is { MirrorsOnly: true } ? new[] { HostOf(registry), HostOf(apiHost) } : [];
        var endpoints = new List<RegistryEndpoint>();
        foreach (var mirror in hostConfig?.Mirrors ?? [])
            endpoints.Add(Mirror(registry, mirror, registries) with { ForbiddenHosts = forbidden });
        if (hostConfig is not { MirrorsOnly: true })
        {
            var (insecure, caDir) = HostSettings(registry, registries);
            endpoints.Add(new RegistryEndpoint(registry, new Uri($"https://{apiHost}/"), "", false,
                insecure, caDir, insecure || IsLoopback(HostOf(apiHost))));
        }
        return endpoints;
    }

    /// <summary>TLS settings of a host ("host" or "host:port"): insecure (listed or flagged) and its CA dir.</summary>
    public static (bool Insecure, string CaDir) HostSettings(string authority, RegistriesConfig registries)
    {
        var host = HostOf(authority);
        var insecure = registries.Insecure.Any(entry =>
        {
            var e = entry.Trim().TrimEnd('/');
            if (e.StartsWith("http://", StringComparison.OrdinalIgnoreCase)) e = e[7..];
            else if (e.StartsWith("https://", StringComparison.OrdinalIgnoreCase)) e = e[8..];
            return string.Equals(e, authority, StringComparison.OrdinalIgnoreCase) || string.Equals(e, host, StringComparison.OrdinalIgnoreCase);
        });
        var config = FindHostConfig(registries, authority) ?? (host != authority ? FindHostConfig(registries, host) : null);
        return (insecure || config is { Insecure: true }, config?.CaDir ?? "");
    }

    /// <summary>True for localhost and loopback addresses, where plain HTTP is always allowed.</summary>
    public static bool IsLoopback(string host)
    {
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)) return true;
        return IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);
    }

    /// <summary>Parses a mirror location: <c>http://h:p[/prefix]</c>, <c>https://h:p[/prefix]</c> or bare <c>h:p[/prefix]</c> (= https).</summary>
    private static RegistryEndpoint Mirror(string registry, string location, RegistriesConfig registries)
    {
        var text = location.Trim();
        var explicitHttp = text.StartsWith("http://", StringComparison.OrdinalIgnoreCase);
        var explicitHttps = text.StartsWith("https://", StringComparison.OrdinalIgnoreCase);
        if (!Uri.TryCreate(explicitHttp || explicitHttps ? text : "https://" + text, UriKind.Absolute, out var uri)
            || uri.Host.Length == 0 || uri.Query.Length > 0 || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0)
            throw new RegistryException(RegistryErrorKind.Unsupported,
                $"mirror location '{location}' of registry {registry} is not [http://|https://]host[:port][/prefix]");
        var (insecure, caDir) = HostSettings(uri.Authority, registries);
        var baseUri = new Uri($"{(explicitHttp ? "http" : "https")}://{uri.Authority}/");
        var prefix = Uri.UnescapeDataString(uri.AbsolutePath).Trim('/');
        // A scheme written out is a promise: "https://" never degrades to plain HTTP.
        var fallback = !explicitHttp && !explicitHttps && (insecure || IsLoopback(uri.Host));
        return new RegistryEndpoint(registry, baseUri, prefix, true, insecure, caDir, fallback);
    }

    private static RegistryHostConfig? FindHostConfig(RegistriesConfig registries, string key)
    {
        if (registries.Hosts.TryGetValue(key, out var c)) return c;
        foreach (var (k, v) in registries.Hosts)
            if (string.Equals(k, key, StringComparison.OrdinalIgnoreCase)) return v;
        return null;
    }

    /// <summary>The host part of "host[:port]" (IPv6 literals keep their brackets).</summary>
    internal static string HostOf(string authority)
    {
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']');
            return close < 0 ? authority : authority[..(close + 1)];
        }
        var colon = authority.LastIndexOf(':');
        return colon < 0 ? authority : authority[..colon];
    }
}
