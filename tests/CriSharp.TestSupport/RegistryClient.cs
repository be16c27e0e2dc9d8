using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace CriSharp.TestSupport;

/// <summary>A parsed WWW-Authenticate challenge (<c>Basic realm=..</c> or <c>Bearer realm=..,service=..,scope=..</c>).</summary>
public sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    private static readonly Regex Param = new("([A-Za-z0-9_-]+)=(?:\"((?:[^\"\\\\]|\\\\.)*)\"|([^,\\s]*))", RegexOptions.Compiled);

    public string? Get(string key) => Parameters.TryGetValue(key, out var v) ? v : null;

    public static AuthChallenge? Parse(HttpResponseMessage response)
    {
        var h = response.Headers.WwwAuthenticate.FirstOrDefault();
        if (h is null) return null;
        var dict = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (Match m in Param.Matches(h.Parameter ?? ""))
            dict[m.Groups[1].Value] = m.Groups[2].Success ? Regex.Replace(m.Groups[2].Value, "\\\\(.)", "$1") : m.Groups[3].Value;
        return new AuthChallenge(h.Scheme, dict);
    }
}

/// <summary>
/// Minimal distribution-API client for pushing test images: blob upload (POST + PUT ?digest=,
/// HEAD to skip existing) and manifest PUT, with Basic and Bearer-token auth.
/// </summary>
public sealed class RegistryClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly RegistryCredentials? _credentials;
    private readonly ConcurrentDictionary<string, string> _tokens = new();
    private volatile string? _scheme;

    public RegistryClient(Uri baseUri, RegistryCredentials? credentials, TimeSpan? timeout = null)
    {
        BaseUri = baseUri;
        _credentials = credentials;
        _http = new HttpClient { BaseAddress = baseUri, Timeout = timeout ?? TimeSpan.FromMinutes(5) };
    }

    public Uri BaseUri { get; }

    /// <summary>Sends a request made by <paramref name="make"/>, authenticating for <paramref name="scope"/> on 401.</summary>
    public async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> make, string scope, CancellationToken ct)
    {
        var req = make();
        Authorize(req, scope);
        var resp = await _http.SendAsync(req, ct).ConfigureAwait(false);
        if (resp.StatusCode != HttpStatusCode.Unauthorized) return resp;
        var challenge = AuthChallenge.Parse(resp);
        resp.Dispose();
        if (challenge is null) throw new InvalidOperationException($"401 without WWW-Authenticate from {req.RequestUri}");
        if (challenge.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase))
        {
            if (_credentials is null) throw new InvalidOperationException("registry requires Basic auth but no credentials given");
            _scheme = "Basic";
        }
        else if (challenge.Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase))
        {
            _scheme = "Bearer";
            _tokens[scope] = await FetchTokenAsync(challenge, scope, ct).ConfigureAwait(false);
        }
        else throw new InvalidOperationException($"unsupported auth scheme {challenge.Scheme}");
        var retry = make();
        Authorize(retry, scope);
        return await _http.SendAsync(retry, ct).ConfigureAwait(false);
    }

    private void Authorize(HttpRequestMessage req, string scope)
    {
        if (_scheme == "Basic" && _credentials is not null)
            req.Headers.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{_credentials.User}:{_credentials.Password}")));
        else if (_scheme == "Bearer" && _tokens.TryGetValue(scope, out var t))
            req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", t);
    }

    private async Task<string> FetchTokenAsync(AuthChallenge challenge, string scope, CancellationToken ct)
    {
        var realm = challenge.Get("realm") ?? throw new InvalidOperationException("Bearer challenge without realm");
        var query = new List<string>();
        if (challenge.Get("service") is { } service) query.Add("service=" + Uri.EscapeDataString(service));
        query.Add("scope=" + Uri.EscapeDataString(challenge.Get("scope") ?? scope));
        using var req = new HttpRequestMessage(HttpMethod.Get, realm + (realm.Contains('?') ? "&" : "?") + string.Join('&', query));
        if (_credentials is not null)
            req.Headers.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{_credentials.User}:{_credentials.Password}")));
        using var resp = await _http.SendAsync(req, ct).ConfigureAwait(false);
        var body = await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        if (!resp.IsSuccessStatusCode) throw new InvalidOperationException($"token server {realm} answered {(int)resp.StatusCode}: {body}");
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.TryGetProperty("token", out var t) ? t.GetString()!
            : doc.RootElement.GetProperty("access_token").GetString()!;
    }

    private static string PushScope(string repo) => $"repository:{repo}:pull,push";

    /// <summary>HEAD /v2/repo/blobs/digest.</summary>
    public async Task<bool> BlobExistsAsync(string repo, string digest, CancellationToken ct)
    {
        using var resp = await SendAsync(() => new HttpRequestMessage(HttpMethod.Head, $"v2/{repo}/blobs/{digest}"),
            PushScope(repo), ct).ConfigureAwait(false);
        if (resp.StatusCode == HttpStatusCode.OK) return true;
        if (resp.StatusCode == HttpStatusCode.NotFound) return false;
        throw new InvalidOperationException($"HEAD blob {repo}@{digest}: {(int)resp.StatusCode}");
    }

    /// <summary>Uploads a blob (monolithic POST then PUT ?digest=) unless it already exists. Returns true if uploaded.</summary>
    public async Task<bool> PushBlobAsync(string repo, OciBlob blob, CancellationToken ct)
    {
        if (await BlobExistsAsync(repo, blob.Digest, ct).ConfigureAwait(false)) return false;
        Uri location;
        using (var start = await SendAsync(() => new HttpRequestMessage(HttpMethod.Post, $"v2/{repo}/blobs/uploads/"),
                   PushScope(repo), ct).ConfigureAwait(false))
        {
            if (start.StatusCode != HttpStatusCode.Accepted)
                throw new InvalidOperationException($"start upload {repo}: {(int)start.StatusCode} {await start.Content.ReadAsStringAsync(ct).ConfigureAwait(false)}");
            var loc = start.Headers.Location ?? throw new InvalidOperationException("upload without Location");
            location = loc.IsAbsoluteUri ? loc : new Uri(BaseUri, loc);
        }
        var put = location + (location.Query.Length > 0 ? "&" : "?") + "digest=" + Uri.EscapeDataString(blob.Digest);
        using var done = await SendAsync(() =>
        {
            var content = new ByteArrayContent(blob.Data);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            return new HttpRequestMessage(HttpMethod.Put, put) { Content = content };
        }, PushScope(repo), ct).ConfigureAwait(false);
        if (done.StatusCode != HttpStatusCode.Created)
            throw new InvalidOperationException($"finish upload {repo}@{blob.Digest}: {(int)done.StatusCode} {await done.Content.ReadAsStringAsync(ct).ConfigureAwait(false)}");
        return true;
    }

    /// <summary>PUT /v2/repo/manifests/reference; returns the registry's Docker-Content-Digest.</summary>
    public async Task<string> PushManifestAsync(string repo, string reference, string mediaType, byte[] manifest, CancellationToken ct)
    {
        using var resp = await SendAsync(() =>
        {
            var content = new ByteArrayContent(manifest);
            content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
            return new HttpRequestMessage(HttpMethod.Put, $"v2/{repo}/manifests/{reference}") { Content = content };
        }, PushScope(repo), ct).ConfigureAwait(false);
        if (resp.StatusCode != HttpStatusCode.Created)
            throw new InvalidOperationException($"put manifest {repo}:{reference}: {(int)resp.StatusCode} {await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false)}");
        var digest = resp.Headers.TryGetValues("Docker-Content-Digest", out var v) ? v.First() : OciBlob.Sha256Digest(manifest);
        if (digest != OciBlob.Sha256Digest(manifest))
            throw new InvalidOperationException($"registry digest {digest} != computed {OciBlob.Sha256Digest(manifest)} for {repo}:{reference}");
        return digest;
    }

    /// <summary>Pushes an image (blobs, child manifests by digest, then the top manifest under each tag).</summary>
    public async Task PushImageAsync(string repo, OciImage image, IEnumerable<string> tags, CancellationToken ct)
    {
        foreach (var blob in image.AllBlobs())
            await PushBlobAsync(repo, blob, ct).ConfigureAwait(false);
        foreach (var (child, _) in image.Children)
            await PushManifestAsync(repo, child.Digest, child.MediaType, child.ManifestBytes, ct).ConfigureAwait(false);
        foreach (var tag in tags)
            await PushManifestAsync(repo, tag, image.MediaType, image.ManifestBytes, ct).ConfigureAwait(false);
    }

    public void Dispose() => _http.Dispose();
}
