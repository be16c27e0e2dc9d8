using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
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
    private const int MaxTokenResponseBytes = 1024 * 1024;
    private const int MaxErrorBodyBytes = 16 * 1024;

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

    private readonly record struct TokenKey(string Origin, string Scope, string Identity);
    private sealed record BearerToken(string Token, long ValidUntilMs);
    private sealed record Authorization(AuthenticationHeaderValue? Header, bool AnonymousToken, TokenKey? CachedKey);

    /// <summary>A 429 or 5xx answer: worth another attempt.</summary>
    private sealed class TransientStatusException(string message) : Exception(message);

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
        catch (RegistryException e) when (endpoint.PlainHttpFallback && e.Kind == RegistryErrorKind.Network)
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

    // ---- authentication --------------------------------------------------------------------

    private async Task<Authorization> AuthorizeAsync(RequestScope scope, bool withCredentials, string what, CancellationToken ct)
    {
        var challenge = scope.State.Challenge;
        var credentials = scope.Credentials;
        if (challenge is null) return new(null, false, null);
        if (challenge.IsBasic)
            return new(credentials is { HasUserPassword: true } ? BasicHeader(credentials) : null, false, null);
        if (!challenge.IsBearer) return new(null, false, null);
        if (credentials?.RegistryToken is { } registryToken) return new(new("Bearer", registryToken), false, null);

        var origin = scope.Endpoint.BaseUri.GetLeftPart(UriPartial.Authority);
        var now = Environment.TickCount64;
        if (scope.HasTokenCredentials)
        {
            var key = new TokenKey(origin, scope.TokenScope, IdentityOf(credentials!));
            if (_tokens.TryGetValue(key, out var cached) && cached.ValidUntilMs > now) return new(new("Bearer", cached.Token), false, key);
        }
        // Anonymous first: public content needs no credentials, and they are not sent where not needed.
        if (!withCredentials || !scope.HasTokenCredentials)
        {
            var anonymous = new TokenKey(origin, scope.TokenScope, "anonymous");
            if (_tokens.TryGetValue(anonymous, out var cached) && cached.ValidUntilMs > now)
                return new(new("Bearer", cached.Token), true, anonymous);
            try
            {
                var token = await FetchTokenAsync(scope, challenge, null, what, ct).ConfigureAwait(false);
                _tokens[anonymous] = token;
                return new(new("Bearer", token.Token), true, null);
            }
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.Unauthenticated && scope.HasTokenCredentials)
            {
                _log.Debug("{What}: anonymous token refused; using credentials", what);
            }
        }
        var credentialed = await FetchTokenAsync(scope, challenge, credentials, what, ct).ConfigureAwait(false);
        _tokens[new TokenKey(origin, scope.TokenScope, IdentityOf(credentials!))] = credentialed;
        return new(new("Bearer", credentialed.Token), false, null);
    }

    private static AuthenticationHeaderValue BasicHeader(RegistryCredentials c) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{c.Username}:{c.Password}")));

    /// <summary>Token cache identity: includes a hash of the secret so other credentials never reuse a token.</summary>
    private static string IdentityOf(RegistryCredentials c) => c.IdentityToken is { } identity
        ? "identity:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identity)))
        : $"basic:{c.Username}:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{c.Username}\0{c.Password}")));

    private async Task<BearerToken> FetchTokenAsync(RequestScope scope, AuthChallenge challenge, RegistryCredentials? credentials,
        string what, CancellationToken ct)
    {
        var realm = challenge["realm"];
        if (string.IsNullOrEmpty(realm) || !Uri.TryCreate(realm, UriKind.Absolute, out var realmUri)
            || (realmUri.Scheme != Uri.UriSchemeHttps && realmUri.Scheme != Uri.UriSchemeHttp))
            throw new RegistryException(RegistryErrorKind.Unauthenticated, $"{what}: the registry's Bearer challenge has no usable realm ('{Clip(realm)}')");
        if (realmUri.Scheme == Uri.UriSchemeHttp && !scope.Endpoint.IsPlainHttp && !RegistryEndpoints.IsLoopback(realmUri.Host)
            && !RegistryEndpoints.HostSettings(realmUri.Authority, _config.Current.Registries).Insecure)
            throw new RegistryException(RegistryErrorKind.Hostile, $"{what}: token realm {realm} is plain HTTP; refusing to use it for an HTTPS registry");
        EnsureAllowed(scope.Endpoint, realmUri, what);
        var service = challenge["service"];

        using var request = new HttpRequestMessage();
        string kind;
        if (credentials?.IdentityToken is { } refreshToken)
        {
            kind = "refresh-token";
            var form = new List<KeyValuePair<string, string>>
            {
                new("grant_type", "refresh_token"),
                new("refresh_token", refreshToken),
                new("scope", scope.TokenScope),
                new("client_id", "crisharp"),
            };
            if (service is not null) form.Add(new("service", service));
            request.Method = HttpMethod.Post;
            request.RequestUri = realmUri;
            request.Content = new FormUrlEncodedContent(form);
        }
        else
        {
            kind = credentials is null ? "anonymous" : $"user '{credentials.Username}'";
            var query = "scope=" + Uri.EscapeDataString(scope.TokenScope) + (service is null ? "" : "&service=" + Uri.EscapeDataString(service));
            var builder = new UriBuilder(realmUri);
            builder.Query = builder.Query.Length > 1 ? builder.Query[1..] + "&" + query : query;
            request.Method = HttpMethod.Get;
            request.RequestUri = builder.Uri;
            if (credentials is { HasUserPassword: true }) request.Headers.Authorization = BasicHeader(credentials);
        }
        _log.Debug("{Method} {Realm} for a {Kind} token with scope {Scope}", request.Method, realm, kind, scope.TokenScope);
        using var response = await ClientFor(scope.Endpoint, realmUri).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        _log.Debug("{Method} {Realm} -> {Status}", request.Method, realm, (int)response.StatusCode);
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            throw new RegistryException(RegistryErrorKind.Unauthenticated, credentials is null
                ? $"{what}: token server {realm} refused an anonymous token for {scope.TokenScope}"
                : $"{what}: token server {realm} rejected the credentials of {kind} for {scope.TokenScope}");
        if (!response.IsSuccessStatusCode)
            throw await StatusErrorAsync(response, $"{what}: token request to {realm}", ct).ConfigureAwait(false);
        var body = await ReadCappedAsync(response, MaxTokenResponseBytes, $"token response from {realm}", ct).ConfigureAwait(false);
        TokenResponse? parsed;
        try { parsed = JsonSerializer.Deserialize(body, RegistryJsonContext.Default.TokenResponse); }
        catch (JsonException e) { throw new RegistryException(RegistryErrorKind.Hostile, $"{what}: token server {realm} sent invalid JSON: {e.Message}"); }
        var token = parsed?.Token is { Length: > 0 } t ? t : parsed?.AccessToken;
        if (string.IsNullOrEmpty(token))
            throw new RegistryException(RegistryErrorKind.Hostile, $"{what}: token server {realm} answered without a token");
        var lifetime = parsed!.ExpiresIn > 0 ? parsed.ExpiresIn : 60;
        // Renew a little early so a token never expires between check and use.
        var margin = Math.Min(10, lifetime / 4.0);
        return new BearerToken(token, Environment.TickCount64 + (long)((lifetime - margin) * 1000));
    }

    // ---- errors and retries ----------------------------------------------------------------

    private static bool IsTransientStatus(HttpStatusCode status) => (int)status is 429 or >= 500;

    /// <summary>Turns a non-success answer into the error it means (429/5xx become retryable).</summary>
    private async Task<Exception> StatusErrorAsync(HttpResponseMessage response, string what, CancellationToken ct)
    {
        var code = (int)response.StatusCode;
        var detail = await ErrorDetailAsync(response, ct).ConfigureAwait(false);
        if (IsTransientStatus(response.StatusCode)) return new TransientStatusException($"{what}: HTTP {code}{detail}");
        return response.StatusCode switch
        {
            HttpStatusCode.NotFound => new RegistryException(RegistryErrorKind.NotFound, $"{what}: not found (HTTP 404{detail})"),
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden =>
                new RegistryException(RegistryErrorKind.Unauthenticated, $"{what}: access denied (HTTP {code}{detail})"),
            _ => new RegistryException(RegistryErrorKind.Network, $"{what}: unexpected HTTP {code} {response.ReasonPhrase}{detail}"),
        };
    }

    /// <summary>": CODE message" from a distribution error body, or "" when there is none.</summary>
    private static async Task<string> ErrorDetailAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            var body = await ReadCappedAsync(response, MaxErrorBodyBytes, "error body", ct).ConfigureAwait(false);
            var errors = JsonSerializer.Deserialize(body, RegistryJsonContext.Default.ErrorsDocument)?.Errors;
            return errors is { Count: > 0 } ? ": " + Clip(string.Join("; ", errors.Select(e => $"{e.Code} {e.Message}".Trim()))) : "";
        }
        catch (Exception e) when (e is JsonException or RegistryException or IOException or HttpRequestException)
        {
            return "";
        }
    }

    /// <summary>Retries transient failures of a small request with exponential backoff; each attempt has a timeout.</summary>
    private async Task<T> WithRetriesAsync<T>(string what, Func<CancellationToken, Task<T>> attempt, CancellationToken ct)
    {
        for (int n = 1; ; n++)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.RequestTimeout);
            try
            {
                return await attempt(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (!ct.IsCancellationRequested && IsRetryable(e))
            {
                if (!IsTransient(e) || n >= _options.MaxAttempts) throw NetworkError(e, what, n);
                var delay = Backoff(n);
                _log.Debug("{What}: attempt {Attempt} failed ({Error}); retrying in {Delay} ms", what, n, Flatten(e), (long)delay.TotalMilliseconds);
                await Task.Delay(delay, ct).ConfigureAwait(false);
            }
        }
    }

    private static bool IsRetryable(Exception e) =>
        e is HttpRequestException or IOException or OperationCanceledException or TransientStatusException;

    /// <summary>Whether another attempt may succeed: resets, timeouts, 5xx/429 yes; refused, DNS, TLS no.</summary>
    private static bool IsTransient(Exception e) => e switch
    {
        TransientStatusException => true,
        OperationCanceledException => true,
        HttpRequestException h => h.HttpRequestError switch
        {
            HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError
                or HttpRequestError.ConfigurationLimitExceeded or HttpRequestError.UserAuthenticationError
                or HttpRequestError.ProxyTunnelError or HttpRequestError.VersionNegotiationError
                or HttpRequestError.InvalidResponse => false,
            HttpRequestError.ConnectionError => h.InnerException is not SocketException { SocketErrorCode: SocketError.ConnectionRefused },
            _ => true,
        },
        IOException => true,
        _ => false,
    };

    private RegistryException NetworkError(Exception e, string what, int attempts)
    {
        var after = attempts > 1 ? $" (after {attempts} attempts)" : "";
        return e switch
        {
            OperationCanceledException => new RegistryException(RegistryErrorKind.Network,
                $"{what}: no answer within {_options.RequestTimeout.TotalSeconds:0.#} s{after}", e),
            TransientStatusException => new RegistryException(RegistryErrorKind.Network, e.Message + after, e),
            _ => new RegistryException(RegistryErrorKind.Network, $"{what}: {Flatten(e)}{after}", e),
        };
    }

    private TimeSpan Backoff(int failedAttempts)
    {
        var ms = _options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, failedAttempts - 1);
        return TimeSpan.FromMilliseconds(Math.Min(ms, _options.MaxRetryDelay.TotalMilliseconds));
    }

    /// <summary>The messages of an exception and its causes, e.g. "connection refused (127.0.0.1:5000)".</summary>
    private static string Flatten(Exception e)
    {
        var parts = new List<string>();
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (!parts.Contains(x.Message)) parts.Add(x.Message);
        return string.Join(": ", parts);
    }

    private static string Clip(string? s, int max = 200) =>
        s is null ? "" : s.Length <= max ? s : s[..max] + "…";

    /// <summary>Reads a body of at most <paramref name="cap"/> bytes (reading cap+1 to notice more); more is Hostile.</summary>
    private static async Task<byte[]> ReadCappedAsync(HttpResponseMessage response, int cap, string what, CancellationToken ct)
    {
        if (response.Content.Headers.ContentLength is long announced && announced > cap)
            throw new RegistryException(RegistryErrorKind.Hostile, $"{what} is {announced} bytes, over the {cap}-byte limit");
        await using var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        while (true)
        {
            var read = await stream.ReadAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, cap + 1L - buffer.Length)), ct).ConfigureAwait(false);
            if (read == 0) break;
            buffer.Write(chunk, 0, read);
            if (buffer.Length > cap)
                throw new RegistryException(RegistryErrorKind.Hostile, $"{what} is over the {cap}-byte limit");
        }
        return buffer.ToArray();
    }
}
