using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace CriSharp.Images.Registry;

public sealed partial class RegistryClient
{
    private const int MaxTokenResponseBytes = 1024 * 1024;

    private readonly record struct TokenKey(string Origin, string Scope, string Identity);
    private sealed record BearerToken(string Token, long ValidUntilMs);
    private sealed record Authorization(AuthenticationHeaderValue? Header, bool AnonymousToken, TokenKey? CachedKey);

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
            catch (RegistryException e) when (e.Reason == RegistryErrorKind.Unauthenticated && scope.HasTokenCredentials)
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

    /// <summary>Asks the challenge's realm for a pull token of the scope: anonymous, with a password, or by refresh token.</summary>
    private async Task<BearerToken> FetchTokenAsync(RequestScope scope, AuthChallenge challenge, RegistryCredentials? credentials,
        string what, CancellationToken ct)
    {
        var realmUri = TokenRealm(scope, challenge, what, out var realm);
        using var request = new HttpRequestMessage();
        var kind = PrepareTokenRequest(request, scope, realmUri, challenge["service"], credentials);
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
        return ParseToken(body, realm, what);
    }

    /// <summary>The challenge's realm: an absolute HTTP(S) URI, plain HTTP only where the endpoint allows it, never out of bounds.</summary>
    private Uri TokenRealm(RequestScope scope, AuthChallenge challenge, string what, out string realm)
    {
        var given = challenge["realm"];
        if (string.IsNullOrEmpty(given) || !Uri.TryCreate(given, UriKind.Absolute, out var realmUri)
            || (realmUri.Scheme != Uri.UriSchemeHttps && realmUri.Scheme != Uri.UriSchemeHttp))
            throw new RegistryException(RegistryErrorKind.Unauthenticated, $"{what}: the registry's Bearer challenge has no usable realm ('{Clip(given)}')");
        realm = given;
        if (realmUri.Scheme == Uri.UriSchemeHttp && !scope.Endpoint.IsPlainHttp && !RegistryEndpoints.IsLoopback(realmUri.Host)
            && !RegistryEndpoints.HostSettings(realmUri.Authority, _config.Current.Registries).Insecure)
            throw new RegistryException(RegistryErrorKind.Hostile, $"{what}: token realm {realm} is plain HTTP; refusing to use it for an HTTPS registry");
        EnsureAllowed(scope.Endpoint, realmUri, what);
        return realmUri;
    }

    /// <summary>
    /// Makes <paramref name="request"/> the token request: an OAuth2 refresh-token POST with an identity token,
    /// else a GET with the scope (and Basic credentials if given). Returns the kind of token, for logs and errors.
    /// </summary>
    private static string PrepareTokenRequest(HttpRequestMessage request, RequestScope scope, Uri realmUri, string? service,
        RegistryCredentials? credentials)
    {
        if (credentials?.IdentityToken is { } refreshToken)
        {
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
            return "refresh-token";
        }
        var query = "scope=" + Uri.EscapeDataString(scope.TokenScope) + (service is null ? "" : "&service=" + Uri.EscapeDataString(service));
        var builder = new UriBuilder(realmUri);
        builder.Query = builder.Query.Length > 1 ? builder.Query[1..] + "&" + query : query;
        request.Method = HttpMethod.Get;
        request.RequestUri = builder.Uri;
        if (credentials is { HasUserPassword: true }) request.Headers.Authorization = BasicHeader(credentials);
        return credentials is null ? "anonymous" : $"user '{credentials.Username}'";
    }

    /// <summary>The token of a token server's answer, valid until a little before it expires (60 s if it does not say).</summary>
    private static BearerToken ParseToken(byte[] body, string realm, string what)
    {
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
}
