using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CriSharp.TestSupport;

/// <summary>How the token server tells the registry which key signed a JWT.</summary>
public enum TokenSigningMode
{
    /// <summary>
    /// Header <c>x5c</c> = [leaf certificate]; the leaf is signed by the root CA written to the
    /// registry's rootcertbundle, and distribution verifies the chain against that bundle.
    /// </summary>
    X5c,
    /// <summary>
    /// Header <c>kid</c> = libtrust fingerprint of the root key (signs with the root key itself);
    /// distribution looks the kid up among the keys of the rootcertbundle certificates.
    /// </summary>
    KeyId,
}

/// <summary>Configuration of a <see cref="TokenServer"/>.</summary>
public sealed class TokenServerOptions
{
    /// <summary>Accepted users and their passwords (Basic credentials on /token).</summary>
    public IReadOnlyDictionary<string, string> Users { get; init; } = new Dictionary<string, string>();
    /// <summary>Whether requests without credentials get <c>pull</c> access.</summary>
    public bool AllowAnonymousPull { get; init; }
    /// <summary>JWT <c>iss</c>; the registry's <c>auth.token.issuer</c>.</summary>
    public string Issuer { get; init; } = "crisharp-test-token-issuer";
    /// <summary>JWT <c>aud</c>; the registry's <c>auth.token.service</c>.</summary>
    public string Service { get; init; } = RegistryFixture.TokenService;
    /// <summary>Token lifetime (<c>expires_in</c>). Distribution allows 60s leeway on exp.</summary>
    public TimeSpan TokenLifetime { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>Key identification in the JWT header.</summary>
    public TokenSigningMode SigningMode { get; init; } = TokenSigningMode.X5c;
}

/// <summary>One request the token server answered.</summary>
public sealed record TokenRequestInfo(string Method, string? User, bool CredentialsValid,
    IReadOnlyList<string> RequestedScopes, IReadOnlyList<string> GrantedScopes, int StatusCode);

/// <summary>
/// In-process Kestrel server on 127.0.0.1 implementing the Docker registry token flow:
/// <c>GET /token?service=..&amp;scope=repository:name:pull,push</c> (optional Basic credentials)
/// and the OAuth2 password grant <c>POST /token</c>. Issues RS256 JWTs with claims
/// iss, sub, aud, exp, nbf, iat, jti and access.
/// </summary>
public sealed class TokenServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly TokenServerOptions _options;
    private readonly RSA _rootKey;
    private readonly X509Certificate2 _rootCert;
    private readonly RSA _leafKey;
    private readonly X509Certificate2 _leafCert;
    private readonly List<TokenRequestInfo> _requests = new();
    private int _issued;
    private int _disposed;

    private TokenServer(WebApplication app, TokenServerOptions options, RSA rootKey, X509Certificate2 rootCert,
        RSA leafKey, X509Certificate2 leafCert)
    {
        _app = app;
        _options = options;
        _rootKey = rootKey;
        _rootCert = rootCert;
        _leafKey = leafKey;
        _leafCert = leafCert;
        RootCertificatePem = rootCert.ExportCertificatePem() + "\n";
    }

    /// <summary>http://127.0.0.1:port/</summary>
    public Uri BaseUri { get; private set; } = null!;
    /// <summary>The realm URL for the registry's <c>auth.token.realm</c>.</summary>
    public string Realm => new Uri(BaseUri, "token").ToString();
    /// <summary>PEM of the self-signed root certificate (the registry's rootcertbundle).</summary>
    public string RootCertificatePem { get; }
    /// <summary>The options in force.</summary>
    public TokenServerOptions Options => _options;
    /// <summary>libtrust key id of the root key (what <see cref="TokenSigningMode.KeyId"/> puts in <c>kid</c>).</summary>
    public string RootKeyId => LibtrustKeyId(_rootKey);
    /// <summary>Number of tokens issued so far.</summary>
    public int IssuedTokens => Volatile.Read(ref _issued);

    /// <summary>Snapshot of the requests answered so far.</summary>
    public IReadOnlyList<TokenRequestInfo> Requests
    {
        get { lock (_requests) return _requests.ToArray(); }
    }

    /// <summary>Generates keys and certificates and starts listening on a free port of 127.0.0.1.</summary>
    public static async Task<TokenServer> StartAsync(TokenServerOptions options, CancellationToken ct = default)
    {
        var rootKey = RSA.Create(2048);
        var now = DateTimeOffset.UtcNow;
        var rootReq = new CertificateRequest("CN=crisharp test token root", rootKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        rootReq.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootReq.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        rootReq.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootReq.PublicKey, false));
        var rootCert = rootReq.CreateSelfSigned(now.AddDays(-1), now.AddYears(5));

        var leafKey = RSA.Create(2048);
        var leafReq = new CertificateRequest("CN=crisharp test token signer", leafKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        leafReq.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        leafReq.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        leafReq.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(rootCert, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        var leafCert = leafReq.Create(rootCert, now.AddDays(-1), now.AddYears(1), serial);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = "Production",
        });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<IHostLifetime, PassiveHostLifetime>();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var server = new TokenServer(app, options, rootKey, rootCert, leafKey, leafCert);
        app.MapGet("/token", server.HandleGetAsync);
        app.MapPost("/token", server.HandlePostAsync);
        try
        {
            await app.StartAsync(ct).ConfigureAwait(false);
            var addr = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var port = new Uri(addr).Port;
            server.BaseUri = new Uri($"http://127.0.0.1:{port}/");
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private Task HandleGetAsync(HttpContext ctx)
    {
        var scopes = ctx.Request.Query["scope"]
            .SelectMany(s => (s ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        string? user = null, password = null;
        var authz = ctx.Request.Headers.Authorization.ToString();
        if (authz.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(authz[6..].Trim()));
                var colon = decoded.IndexOf(':');
                if (colon >= 0) { user = decoded[..colon]; password = decoded[(colon + 1)..]; }
                else user = decoded;
            }
            catch (FormatException) { user = ""; }
        }
        var service = ctx.Request.Query["service"].ToString();
        return RespondAsync(ctx, "GET", user, password, scopes, service, oauth: false);
    }

    private async Task HandlePostAsync(HttpContext ctx)
    {
        if (!ctx.Request.HasFormContentType)
        {
            ctx.Response.StatusCode = 400;
            await ctx.Response.WriteAsJsonAsync(new { error = "invalid_request" }).ConfigureAwait(false);
            return;
        }
        var form = await ctx.Request.ReadFormAsync().ConfigureAwait(false);
        if (form["grant_type"] != "password")
        {
            ctx.Response.StatusCode = 400;
            await ctx.Response.WriteAsJsonAsync(new { error = "unsupported_grant_type" }).ConfigureAwait(false);
            return;
        }
        var scopes = form["scope"].SelectMany(s => (s ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        await RespondAsync(ctx, "POST", form["username"].ToString(), form["password"].ToString(), scopes,
            form["service"].ToString(), oauth: true).ConfigureAwait(false);
    }

    private async Task RespondAsync(HttpContext ctx, string method, string? user, string? password,
        List<string> scopes, string service, bool oauth)
    {
        bool authenticated = user is not null && _options.Users.TryGetValue(user, out var expected)
                             && password is not null && CryptographicOperations.FixedTimeEquals(
                                 Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(password));
        if (user is not null && !authenticated)
        {
            Record(new TokenRequestInfo(method, user, false, scopes, [], 401));
            ctx.Response.StatusCode = 401;
            if (!oauth) ctx.Response.Headers.WWWAuthenticate = "Basic realm=\"crisharp-token\"";
            await ctx.Response.WriteAsJsonAsync(new { errors = new[] { new { code = "UNAUTHORIZED", message = "invalid credentials" } } })
                .ConfigureAwait(false);
            return;
        }
        if (!string.IsNullOrEmpty(service) && service != _options.Service)
        {
            Record(new TokenRequestInfo(method, user, authenticated, scopes, [], 400));
            ctx.Response.StatusCode = 400;
            await ctx.Response.WriteAsJsonAsync(new { errors = new[] { new { code = "DENIED", message = $"unknown service {service}" } } })
                .ConfigureAwait(false);
            return;
        }

        var access = new JsonArray();
        var granted = new List<string>();
        foreach (var scope in scopes)
        {
            var first = scope.IndexOf(':');
            var last = scope.LastIndexOf(':');
            if (first < 0 || last <= first) continue;
            var type = scope[..first];
            var name = scope[(first + 1)..last];
            var requested = scope[(last + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries);
            var actions = authenticated
                ? requested
                : _options.AllowAnonymousPull && type == "repository"
                    ? requested.Where(a => a == "pull").ToArray()
                    : [];
            if (actions.Length == 0) continue;
            var actionsJson = new JsonArray();
            foreach (var a in actions) actionsJson.Add(a);
            access.Add(new JsonObject { ["type"] = type, ["name"] = name, ["actions"] = actionsJson });
            granted.Add($"{type}:{name}:{string.Join(',', actions)}");
        }

        var now = DateTimeOffset.UtcNow;
        var lifetime = (long)Math.Max(1, _options.TokenLifetime.TotalSeconds);
        var token = IssueToken(authenticated ? user! : "", access, now, lifetime);
        Interlocked.Increment(ref _issued);
        Record(new TokenRequestInfo(method, user, authenticated, scopes, granted, 200));
        var body = new JsonObject
        {
            ["token"] = token,
            ["access_token"] = token,
            ["expires_in"] = lifetime,
            ["issued_at"] = now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'"),
        };
        if (oauth) body["scope"] = string.Join(' ', granted);
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(body.ToJsonString()).ConfigureAwait(false);
    }

    /// <summary>Signs a registry JWT with the given access list (exposed for negative tests).</summary>
    public string IssueToken(string subject, JsonArray access, DateTimeOffset now, long lifetimeSeconds)
    {
        var header = new JsonObject { ["typ"] = "JWT", ["alg"] = "RS256" };
        RSA signer;
        if (_options.SigningMode == TokenSigningMode.X5c)
        {
            header["x5c"] = new JsonArray(Convert.ToBase64String(_leafCert.RawData));
            signer = _leafKey;
        }
        else
        {
            header["kid"] = LibtrustKeyId(_rootKey);
            signer = _rootKey;
        }
        var claims = new JsonObject
        {
            ["iss"] = _options.Issuer,
            ["sub"] = subject,
            ["aud"] = _options.Service,
            ["exp"] = now.ToUnixTimeSeconds() + lifetimeSeconds,
            ["nbf"] = now.ToUnixTimeSeconds() - 1,
            ["iat"] = now.ToUnixTimeSeconds(),
            ["jti"] = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant(),
            ["access"] = access.DeepClone(),
        };
        var signingInput = B64Url(Encoding.UTF8.GetBytes(header.ToJsonString())) + "." +
                           B64Url(Encoding.UTF8.GetBytes(claims.ToJsonString()));
        var sig = signer.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return signingInput + "." + B64Url(sig);
    }

    private void Record(TokenRequestInfo info)
    {
        lock (_requests) _requests.Add(info);
    }

    private static string B64Url(byte[] data) =>
        Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>
    /// libtrust key id: SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32,
    /// in 12 colon-separated groups of 4 (what distribution's token auth matches <c>kid</c> against).
    /// </summary>
    public static string LibtrustKeyId(AsymmetricAlgorithm key)
    {
        var spki = key.ExportSubjectPublicKeyInfo();
        var hash = SHA256.HashData(spki).AsSpan(0, 30).ToArray();
        var b32 = Base32(hash);
        var sb = new StringBuilder();
        for (int i = 0; i < b32.Length; i += 4)
        {
            if (i > 0) sb.Append(':');
            sb.Append(b32, i, Math.Min(4, b32.Length - i));
        }
        return sb.ToString();
    }

    private static string Base32(byte[] data)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var sb = new StringBuilder();
        int buffer = 0, bits = 0;
        foreach (var b in data)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                sb.Append(alphabet[(buffer >> (bits - 5)) & 31]);
                bits -= 5;
            }
        }
        if (bits > 0) sb.Append(alphabet[(buffer << (5 - bits)) & 31]);
        return sb.ToString();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _app.StopAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) { }
        catch (ObjectDisposedException) { }
        await _app.DisposeAsync().ConfigureAwait(false);
        _rootCert.Dispose();
        _leafCert.Dispose();
        _rootKey.Dispose();
        _leafKey.Dispose();
    }

    /// <summary>A host lifetime that neither hooks SIGTERM/SIGINT nor prints anything.</summary>
    private sealed class PassiveHostLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
