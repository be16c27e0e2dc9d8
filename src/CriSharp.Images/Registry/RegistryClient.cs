using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using CriSharp.Configuration;
using Serilog;

namespace CriSharp.Images.Registry;

/// <summary>
/// Client for the OCI distribution API v2: resolves references to verified manifests and configs
/// (<see cref="ResolveAsync"/>) and downloads blobs with resume and stall detection (<see cref="FetchBlobAsync"/>).
/// Mirrors, TLS trust and plain-HTTP rules come from <c>[registries]</c>; auth is Basic or Bearer tokens.
/// </summary>
public sealed partial class RegistryClient : IDisposable
{
    private const int MaxRedirects = 10;

    private readonly LiveConfig _config;
    private readonly ILogger _log;
    private readonly RegistryClientOptions _options;
    private readonly RegistryHttpClients _clients;
    // Per endpoint (by transport settings): the scheme that worked and the auth challenge last seen.
    private readonly ConcurrentDictionary<string, EndpointState> _endpoints = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<TokenKey, BearerToken> _tokens = new();

    /// <summary>Creates a client; without <paramref name="options"/> the timing knobs come from <c>[images]</c>.</summary>
    public RegistryClient(LiveConfig config, ILogger logger, RegistryClientOptions? options = null)
    {
        _config = config;
        _log = logger.ForContext<RegistryClient>();
        _options = options ?? RegistryClientOptions.FromConfig(config.Current.Images);
        _clients = new RegistryHttpClients(_options, _log);
    }

    /// <summary>The effective knobs.</summary>
    public RegistryClientOptions Options => _options;

    /// <inheritdoc />
    public void Dispose() => _clients.Dispose();

    /// <summary>The scheme that answered and the current auth challenge of one endpoint; shared by all pulls.</summary>
    private sealed class EndpointState(RegistryEndpoint effective, AuthChallenge? challenge)
    {
        private volatile AuthChallenge? _challenge = challenge;
        public RegistryEndpoint Effective { get; } = effective;
        public AuthChallenge? Challenge { get => _challenge; set => _challenge = value; }
    }

    /// <summary>One repository on one endpoint with the pull's credentials.</summary>
    private sealed record RequestScope(RegistryEndpoint Endpoint, EndpointState State, string Repository, RegistryCredentials? Credentials)
    {
        public string RepositoryPath => Endpoint.RepositoryPath(Repository);
        public string TokenScope => $"repository:{RepositoryPath}:pull";

        /// <summary>Names what a message is about, e.g. "manifest latest of docker.io/library/busybox".</summary>
        public string Describe(string kind, string reference) =>
            $"{kind} {reference} of repository {Repository} on registry {Endpoint.Registry}" + (Endpoint.IsMirror ? $" (via {Endpoint})" : "");

        public bool HasTokenCredentials => Credentials is { HasUserPassword: true } or { IdentityToken: not null };
    }

    // ---- endpoints -------------------------------------------------------------------------

    /// <summary>Pings <c>/v2/</c> once per endpoint: learns the auth challenge and, where allowed, falls back from HTTPS to HTTP.</summary>
    private async Task<EndpointState> PrepareAsync(RegistryEndpoint endpoint, string purpose, CancellationToken ct)
    {
        var key = EndpointKey(endpoint);
        if (_endpoints.TryGetValue(key, out var known)) return known;
        RegistryEndpoint effective = endpoint;
        AuthChallenge? challenge;
        try
        {
            challenge = await PingAsync(endpoint, purpose, ct).ConfigureAwait(false);
        }
        catch (RegistryException e) when (endpoint.PlainHttpFallback && e.Reason == RegistryErrorKind.Network)
        {
            _log.Debug("HTTPS to {Endpoint} failed ({Error}); trying plain HTTP", endpoint, e.Message);
            effective = endpoint.AsPlainHttp();
            challenge = await PingAsync(effective, purpose, ct).ConfigureAwait(false);
        }
        var state = new EndpointState(effective, challenge);
        _endpoints[key] = state;
        _endpoints.TryAdd(EndpointKey(effective), state);
        return state;
    }

    private static string EndpointKey(RegistryEndpoint e) =>
        $"{e.BaseUri}|{e.PlainHttpFallback}|{e.SkipTlsVerify}|{e.CaDir}|{string.Join(",", e.ForbiddenHosts)}";

    private Task<AuthChallenge?> PingAsync(RegistryEndpoint endpoint, string purpose, CancellationToken ct) =>
        WithRetriesAsync($"API check of {endpoint} for {purpose}", async t =>
        {
            EnsureAllowed(endpoint, endpoint.PingUri, "API check");
            using var request = new HttpRequestMessage(HttpMethod.Get, endpoint.PingUri);
            _log.Debug("GET {Uri}", endpoint.PingUri);
            using var response = await _clients.For(endpoint.SkipTlsVerify, endpoint.CaDir)
                .SendAsync(request, HttpCompletionOption.ResponseHeadersRead, t).ConfigureAwait(false);
            _log.Debug("GET {Uri} -> {Status}", endpoint.PingUri, (int)response.StatusCode);
            if (response.StatusCode == HttpStatusCode.Unauthorized) return AuthChallenge.From(response);
            if (IsTransientStatus(response.StatusCode))
                throw new TransientStatusException($"API check of {endpoint}: HTTP {(int)response.StatusCode}");
            // Anything else (200, or a mirror without /v2/ root): no auth needed as far as we know.
            return null;
        }, ct);

    /// <summary>Refuses requests to hosts that mirrors_only puts out of bounds (redirects and token realms included).</summary>
    private static void EnsureAllowed(RegistryEndpoint endpoint, Uri uri, string what)
    {
        foreach (var host in endpoint.ForbiddenHosts)
            if (string.Equals(uri.Host, host, StringComparison.OrdinalIgnoreCase))
                throw new RegistryException(RegistryErrorKind.Network,
                    $"{what}: refusing to contact {uri.Host}: registry {endpoint.Registry} is configured mirrors_only");
    }

    private HttpClient ClientFor(RegistryEndpoint endpoint, Uri uri)
    {
        if (SameOrigin(uri, endpoint.BaseUri)) return _clients.For(endpoint.SkipTlsVerify, endpoint.CaDir);
        var (insecure, caDir) = RegistryEndpoints.HostSettings(uri.Authority, _config.Current.Registries);
        return _clients.For(insecure, caDir);
    }

    private static bool SameOrigin(Uri a, Uri b) =>
        a.Scheme == b.Scheme && a.Port == b.Port && string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase);

    // ---- sending ---------------------------------------------------------------------------

    /// <summary>
    /// One registry request: authorization, redirects by hand (Authorization only to the endpoint's own
    /// origin), and on 401 one step up (anonymous token → credentials, or a renewed token).
    /// </summary>
    private async Task<HttpResponseMessage> SendAsync(RequestScope scope, Uri uri, Action<HttpRequestMessage>? configure,
        string what, CancellationToken ct)
    {
        bool useCredentials = false, renewed = false, challengeUpdated = false;
        while (true)
        {
            var auth = await AuthorizeAsync(scope, useCredentials, what, ct).ConfigureAwait(false);
            var response = await SendFollowingRedirectsAsync(scope.Endpoint, uri, configure, auth.Header, what, ct).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.Unauthorized) return response;
            var challenge = AuthChallenge.From(response);
            response.Dispose();
            var current = scope.State.Challenge;
            if (challenge is not null && !challengeUpdated && !SameChallenge(challenge, current))
            {
                // e.g. /v2/ was open but this repository wants a token.
                scope.State.Challenge = challenge;
                challengeUpdated = true;
                continue;
            }
            if (auth.AnonymousToken && scope.HasTokenCredentials && !useCredentials)
            {
                useCredentials = true;
                continue;
            }
            if (auth.CachedKey is { } key && !renewed)
            {
                _tokens.TryRemove(key, out _);
                renewed = true;
                continue;
            }
            throw new RegistryException(RegistryErrorKind.Unauthenticated,
                $"{what}: the registry answered 401 Unauthorized " +
                (scope.Credentials is null ? "(no credentials were given)" : "with the given credentials"));
        }
    }

    private static bool SameChallenge(AuthChallenge a, AuthChallenge? b) =>
        b is not null && string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
        && a["realm"] == b["realm"] && a["service"] == b["service"];

    private async Task<HttpResponseMessage> SendFollowingRedirectsAsync(RegistryEndpoint endpoint, Uri uri,
        Action<HttpRequestMessage>? configure, AuthenticationHeaderValue? authorization, string what, CancellationToken ct)
    {
        var current = uri;
        for (int hop = 0; ; hop++)
        {
            EnsureAllowed(endpoint, current, what);
            using var request = new HttpRequestMessage(HttpMethod.Get, current);
            configure?.Invoke(request);
            if (authorization is not null && SameOrigin(current, endpoint.BaseUri)) request.Headers.Authorization = authorization;
            _log.Debug("GET {Uri}{Range}", current, request.Headers.Range is { } r ? " Range: " + r : "");
            var response = await ClientFor(endpoint, current).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            _log.Debug("GET {Uri} -> {Status}", current, (int)response.StatusCode);
            if ((int)response.StatusCode is not (301 or 302 or 303 or 307 or 308)) return response;
            var location = response.Headers.Location;
            var status = (int)response.StatusCode;
            response.Dispose();
            if (location is null)
                throw new RegistryException(RegistryErrorKind.Network, $"{what}: HTTP {status} redirect without a Location header");
            if (hop >= MaxRedirects)
                throw new RegistryException(RegistryErrorKind.Network, $"{what}: more than {MaxRedirects} redirects");
            var next = location.IsAbsoluteUri ? location : new Uri(current, location);
            if (next.Scheme != Uri.UriSchemeHttp && next.Scheme != Uri.UriSchemeHttps)
                throw new RegistryException(RegistryErrorKind.Hostile, $"{what}: redirect to unsupported scheme '{next.Scheme}'");
            if (current.Scheme == Uri.UriSchemeHttps && next.Scheme == Uri.UriSchemeHttp && !RegistryEndpoints.IsLoopback(next.Host))
                throw new RegistryException(RegistryErrorKind.Hostile,
                    $"{what}: refusing a redirect from HTTPS to plain HTTP ({next.GetLeftPart(UriPartial.Authority)})");
            current = next;
        }
    }
}
