using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using CriSharp.TestSupport;
using Xunit;
using Xunit.Abstractions;

namespace CriSharp.Integration.Tests.Registry;

/// <summary>
/// The test environment itself: a real docker-registry per auth variant, our images pushed by
/// our own code, and every manifest and blob read back through the auth flow by an independent
/// plain-HttpClient puller that recomputes each digest.
/// </summary>
public sealed class RegistryFixtureTests(ITestOutputHelper output)
{
    private static readonly string[] ManifestAccept =
        [OciMediaTypes.Manifest, OciMediaTypes.Index, "application/vnd.docker.distribution.manifest.v2+json"];

    private static Task<RegistryFixture> Start(string variant) => variant switch
    {
        "anonymous" => RegistryFixture.Anonymous(),
        "basic" => RegistryFixture.BasicAuth(),
        "token" => RegistryFixture.TokenAuth(),
        _ => throw new ArgumentException(variant),
    };

    [Theory]
    [InlineData("anonymous")]
    [InlineData("basic")]
    [InlineData("token")]
    public async Task PushedImagesAreServedByteForByte(string variant)
    {
        string tempDir;
        int pid;
        await using (var registry = await Start(variant))
        {
            tempDir = registry.TempDir;
            pid = registry.ProcessId;
            try
            {
                var images = await TestImages.PushDefaultAsync(registry);
                Assert.Equal(
                    ["busybox-dyn:latest", "busybox:latest", "layered:latest", "multiarch:latest", "nonroot:latest", "pause:latest", "twotags:v1", "twotags:v2"],
                    images.Keys.Order(StringComparer.Ordinal));

                using var puller = new Puller(registry.BaseUri, registry.Credentials);
                int manifests = 0, blobs = 0;
                foreach (var (key, image) in images)
                {
                    Assert.Equal(registry.Host, image.Host);
                    Assert.Equal($"{registry.Host}/crisharp-test/{key}", image.Reference);
                    var (m, b) = await VerifyImageAsync(puller, image);
                    manifests += m;
                    blobs += b;
                }
                output.WriteLine($"{variant}: verified {manifests} manifests and {blobs} blobs");

                // twotags: one manifest, two tags, also addressable by digest.
                Assert.Equal(images["twotags:v1"].ManifestDigest, images["twotags:v2"].ManifestDigest);

                await AssertLayeredWhiteoutsAsync(puller, images["layered:latest"]);
                await AssertMultiArchAsync(puller, images["multiarch:latest"]);
                await AssertConfigsAsync(puller, images);

                if (registry.Variant != RegistryVariant.Anonymous)
                {
                    using var anonymous = new Puller(registry.BaseUri, null);
                    var busybox = images["busybox:latest"];
                    var (status, _, _) = await anonymous.GetAsync(busybox.Repository, $"manifests/{busybox.Tag}", ManifestAccept);
                    Assert.Equal(HttpStatusCode.Unauthorized, status);
                    (status, _, _) = await anonymous.GetAsync(busybox.Repository, $"blobs/{busybox.ConfigDigest}", null);
                    Assert.Equal(HttpStatusCode.Unauthorized, status);
                    using var wrong = new Puller(registry.BaseUri, new RegistryCredentials(registry.User!, "wrong-password"));
                    (status, _, _) = await wrong.GetAsync(busybox.Repository, $"manifests/{busybox.Tag}", ManifestAccept);
                    Assert.Equal(HttpStatusCode.Unauthorized, status);
                }
                else
                {
                    Assert.Null(registry.Credentials);
                }
            }
            catch
            {
                output.WriteLine($"registry log {registry.LogPath}:\n{registry.ReadLog()}");
                throw;
            }
        }
        AssertGone(pid, tempDir);
    }

    [Fact]
    public async Task TokenWithLibtrustKidIsAcceptedAndAnonymousPullCanBeAllowed()
    {
        string tempDir;
        int pid;
        await using (var registry = await RegistryFixture.TokenAuth(allowAnonymousPull: true, signingMode: TokenSigningMode.KeyId))
        {
            tempDir = registry.TempDir;
            pid = registry.ProcessId;
            try
            {
                var pushed = await TestImages.PushAsync(registry, TestImages.Busybox);
                using var anonymous = new Puller(registry.BaseUri, null);
                await VerifyImageAsync(anonymous, pushed.Single());

                // Anonymous tokens carry pull only: a push attempt is refused.
                var (status, _, _) = await anonymous.SendAsync(pushed[0].Repository, HttpMethod.Post, "blobs/uploads/", null, "pull,push");
                Assert.Equal(HttpStatusCode.Unauthorized, status);

                var ts = registry.TokenServer!;
                Assert.Contains(ts.Requests, r => r.User == registry.User && r.CredentialsValid);
                Assert.Contains(ts.Requests, r => r.User is null && r.GrantedScopes.Any(s => s.EndsWith(":pull", StringComparison.Ordinal)));
                Assert.Matches("^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$", ts.RootKeyId);
            }
            catch
            {
                output.WriteLine($"registry log {registry.LogPath}:\n{registry.ReadLog()}");
                throw;
            }
        }
        AssertGone(pid, tempDir);
    }

    [Fact]
    public void ImagesAreDeterministicAndCached()
    {
        var a = TestImages.Describe("h:1", TestImages.Layered).Single();
        var b = TestImages.Describe("h:1", TestImages.Layered).Single();
        Assert.Equal(a.ManifestDigest, b.ManifestDigest);
        Assert.Same(TestImages.Get(TestImages.Busybox), TestImages.Get(TestImages.Busybox));
        // Shared base layer: nonroot and layered start with busybox's layer.
        var busyboxLayer = TestImages.Get(TestImages.Busybox).Layers[0].Digest;
        Assert.Equal(busyboxLayer, TestImages.Get(TestImages.NonRoot).Layers[0].Digest);
        Assert.Equal(busyboxLayer, TestImages.Get(TestImages.Layered).Layers[0].Digest);
        Assert.Equal("h:1/crisharp-test/layered:latest", a.Reference);
        Assert.Equal($"h:1/crisharp-test/layered@{a.ManifestDigest}", a.DigestReference);
    }

    private static void AssertGone(int pid, string tempDir)
    {
        Assert.False(Directory.Exists(tempDir), $"temp dir {tempDir} left behind");
        bool alive;
        try { using var p = Process.GetProcessById(pid); alive = !p.HasExited; }
        catch (ArgumentException) { alive = false; }
        Assert.False(alive, $"docker-registry pid {pid} still running");
    }

    private static string Sha256(byte[] data) => "sha256:" + Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();

    /// <summary>Fetches the manifest (by tag and by digest), children and all blobs; returns counts.</summary>
    private static async Task<(int Manifests, int Blobs)> VerifyImageAsync(Puller puller, BuiltImage image)
    {
        int manifests = 0, blobs = 0;
        var refs = image.Tag is null ? new[] { image.ManifestDigest } : [image.Tag, image.ManifestDigest];
        byte[] body = [];
        foreach (var r in refs)
        {
            var (status, data, headers) = await puller.GetAsync(image.Repository, $"manifests/{r}", ManifestAccept);
            Assert.True(status == HttpStatusCode.OK, $"GET manifest {image.Repository}:{r} -> {(int)status}");
            Assert.Equal(image.ManifestDigest, Sha256(data));
            Assert.Equal(image.ManifestDigest, headers.GetValues("Docker-Content-Digest").Single());
            Assert.Equal(image.MediaType, headers.GetValues("Content-Type").Single());
            Assert.Equal(image.ManifestSize, data.LongLength);
            body = data;
            manifests++;
        }
        using var doc = JsonDocument.Parse(body);
        var root = doc.RootElement;
        Assert.Equal(2, root.GetProperty("schemaVersion").GetInt32());
        Assert.Equal(image.MediaType, root.GetProperty("mediaType").GetString());
        if (image.IsIndex)
        {
            var listed = root.GetProperty("manifests").EnumerateArray().Select(m => m.GetProperty("digest").GetString()).ToArray();
            Assert.Equal(image.Children.Select(c => c.ManifestDigest), listed);
            foreach (var child in image.Children)
            {
                var (m, b) = await VerifyImageAsync(puller, child);
                manifests += m;
                blobs += b;
            }
            return (manifests, blobs);
        }

        var config = root.GetProperty("config");
        Assert.Equal(OciMediaTypes.Config, config.GetProperty("mediaType").GetString());
        Assert.Equal(image.ConfigDigest, config.GetProperty("digest").GetString());
        var configBytes = await FetchBlobAsync(puller, image.Repository, image.ConfigDigest!, config.GetProperty("size").GetInt64());
        blobs++;
        using var configDoc = JsonDocument.Parse(configBytes);
        var diffIds = configDoc.RootElement.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray().Select(d => d.GetString()!).ToArray();
        Assert.Equal(image.DiffIds, diffIds);

        var layers = root.GetProperty("layers").EnumerateArray().ToArray();
        Assert.Equal(image.LayerDigests, layers.Select(l => l.GetProperty("digest").GetString()));
        Assert.Equal(diffIds.Length, layers.Length);
        for (int i = 0; i < layers.Length; i++)
        {
            Assert.Equal(OciMediaTypes.LayerGzip, layers[i].GetProperty("mediaType").GetString());
            var gz = await FetchBlobAsync(puller, image.Repository, layers[i].GetProperty("digest").GetString()!, layers[i].GetProperty("size").GetInt64());
            blobs++;
            Assert.Equal(diffIds[i], Sha256(Gunzip(gz)));
        }
        Assert.Equal(image.BlobDigests.Order(StringComparer.Ordinal),
            new[] { image.ConfigDigest! }.Concat(image.LayerDigests).Distinct().Order(StringComparer.Ordinal));
        return (manifests, blobs);
    }

    private static async Task<byte[]> FetchBlobAsync(Puller puller, string repo, string digest, long size)
    {
        var (status, data, _) = await puller.GetAsync(repo, $"blobs/{digest}", null);
        Assert.True(status == HttpStatusCode.OK, $"GET blob {repo}@{digest} -> {(int)status}");
        Assert.Equal(digest, Sha256(data));
        Assert.Equal(size, data.LongLength);
        return data;
    }

    private static byte[] Gunzip(byte[] gz)
    {
        using var input = new GZipStream(new MemoryStream(gz), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        input.CopyTo(ms);
        return ms.ToArray();
    }

    private static List<TarEntryInfo> ReadTar(byte[] tar)
    {
        var list = new List<TarEntryInfo>();
        using var reader = new TarReader(new MemoryStream(tar));
        while (reader.GetNextEntry(copyData: true) is { } e)
        {
            string? content = null;
            if (e.DataStream is not null)
                using (var sr = new StreamReader(e.DataStream)) content = sr.ReadToEnd();
            list.Add(new TarEntryInfo(e.Name, e.EntryType, content, e.Uid, e.ModificationTime));
        }
        return list;
    }

    private sealed record TarEntryInfo(string Name, TarEntryType Type, string? Content, int Uid, DateTimeOffset MTime);

    private static async Task AssertLayeredWhiteoutsAsync(Puller puller, BuiltImage layered)
    {
        Assert.Equal(3, layered.LayerDigests.Count);
        var top = ReadTar(Gunzip(await FetchBlobAsync(puller, layered.Repository, layered.LayerDigests[2], await SizeOf(puller, layered, 2))));
        var names = top.Select(e => e.Name.TrimEnd('/')).ToList();
        Assert.Contains("data/.wh.a", names);
        Assert.Contains("opaque/.wh..wh..opq", names);
        Assert.Contains("opaque/new", names);
        Assert.Equal("b from layer 3\n", top.Single(e => e.Name == "data/b").Content);
        Assert.True(names.IndexOf("opaque/.wh..wh..opq") < names.IndexOf("opaque/new"), "opaque marker must precede the new content");
        Assert.All(top, e => Assert.Equal(0, e.Uid));
        Assert.All(top, e => Assert.Equal(LayerBuilder.EntryTime, e.MTime));

        var middle = ReadTar(Gunzip(await FetchBlobAsync(puller, layered.Repository, layered.LayerDigests[1], await SizeOf(puller, layered, 1))));
        Assert.Equal(
            ["data/a", "data/b", "data/dir/x", "opaque/old"],
            middle.Where(e => e.Type == TarEntryType.RegularFile).Select(e => e.Name).Order(StringComparer.Ordinal));
    }

    private static async Task<long> SizeOf(Puller puller, BuiltImage image, int layer)
    {
        var (_, data, _) = await puller.GetAsync(image.Repository, $"manifests/{image.ManifestDigest}", ManifestAccept);
        using var doc = JsonDocument.Parse(data);
        return doc.RootElement.GetProperty("layers")[layer].GetProperty("size").GetInt64();
    }

    private static async Task AssertMultiArchAsync(Puller puller, BuiltImage multiarch)
    {
        Assert.Equal(OciMediaTypes.Index, multiarch.MediaType);
        var (_, data, _) = await puller.GetAsync(multiarch.Repository, $"manifests/{multiarch.Tag}", ManifestAccept);
        using var doc = JsonDocument.Parse(data);
        var platforms = doc.RootElement.GetProperty("manifests").EnumerateArray()
            .Select(m => m.GetProperty("platform"))
            .Select(p => $"{p.GetProperty("os").GetString()}/{p.GetProperty("architecture").GetString()}")
            .ToArray();
        Assert.Equal(["linux/amd64", "linux/arm64"], platforms);
        Assert.All(doc.RootElement.GetProperty("manifests").EnumerateArray(),
            m => Assert.Equal(OciMediaTypes.Manifest, m.GetProperty("mediaType").GetString()));
        Assert.Equal(["linux/amd64", "linux/arm64/v8"], multiarch.Children.Select(c => c.Platform!.ToString()));
    }

    private static async Task AssertConfigsAsync(Puller puller, IReadOnlyDictionary<string, BuiltImage> images)
    {
        async Task<JsonElement> Config(string key)
        {
            var img = images[key];
            var (_, data, _) = await puller.GetAsync(img.Repository, $"blobs/{img.ConfigDigest}", null);
            return JsonDocument.Parse(data).RootElement.GetProperty("config").Clone();
        }
        Assert.Equal("app", (await Config("nonroot:latest")).GetProperty("User").GetString());
        Assert.Equal(["id"], (await Config("nonroot:latest")).GetProperty("Cmd").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["sh"], (await Config("busybox:latest")).GetProperty("Cmd").EnumerateArray().Select(e => e.GetString()));
        var pause = (await Config("pause:latest")).GetProperty("Entrypoint").EnumerateArray().Select(e => e.GetString()).ToArray();
        Assert.True(pause.SequenceEqual(["/usr/bin/catatonit", "-P"]) || pause[0] == "/bin/sleep", string.Join(' ', pause));
    }

    /// <summary>
    /// An independent puller: plain HttpClient that answers a 401 by following WWW-Authenticate
    /// (Basic: resend with credentials; Bearer: fetch a token from realm, resend with it).
    /// </summary>
    private sealed class Puller : IDisposable
    {
        private readonly HttpClient _http;
        private readonly RegistryCredentials? _creds;
        private readonly Dictionary<string, AuthenticationHeaderValue> _auth = new();

        public Puller(Uri baseUri, RegistryCredentials? creds)
        {
            _http = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromMinutes(2) };
            _creds = creds;
        }

        public Task<(HttpStatusCode, byte[], HttpResponseHeadersAndContent)> GetAsync(string repo, string path, string[]? accept) =>
            SendAsync(repo, HttpMethod.Get, path, accept, "pull");

        public async Task<(HttpStatusCode, byte[], HttpResponseHeadersAndContent)> SendAsync(string repo, HttpMethod method, string path,
            string[]? accept, string actions)
        {
            var scopeKey = $"repository:{repo}:{actions}";
            HttpRequestMessage Make()
            {
                var req = new HttpRequestMessage(method, $"v2/{repo}/{path}");
                foreach (var a in accept ?? []) req.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(a));
                if (_auth.TryGetValue(scopeKey, out var h)) req.Headers.Authorization = h;
                return req;
            }
            var resp = await _http.SendAsync(Make());
            if (resp.StatusCode == HttpStatusCode.Unauthorized && !_auth.ContainsKey(scopeKey))
            {
                var challenge = resp.Headers.WwwAuthenticate.Single();
                resp.Dispose();
                var p = ParseParams(challenge.Parameter ?? "");
                if (challenge.Scheme == "Basic")
                {
                    if (_creds is null) return await Finish(await _http.SendAsync(Make()));
                    _auth[scopeKey] = BasicHeader(_creds);
                }
                else
                {
                    Assert.Equal("Bearer", challenge.Scheme);
                    var url = $"{p["realm"]}?service={Uri.EscapeDataString(p["service"])}&scope={Uri.EscapeDataString(p["scope"])}";
                    using var treq = new HttpRequestMessage(HttpMethod.Get, url);
                    if (_creds is not null) treq.Headers.Authorization = BasicHeader(_creds);
                    using var tresp = await _http.SendAsync(treq);
                    if (!tresp.IsSuccessStatusCode) return ((HttpStatusCode)tresp.StatusCode, [], new HttpResponseHeadersAndContent(tresp));
                    using var tdoc = JsonDocument.Parse(await tresp.Content.ReadAsStringAsync());
                    var token = tdoc.RootElement.GetProperty("token").GetString()!;
                    Assert.Equal(token, tdoc.RootElement.GetProperty("access_token").GetString());
                    Assert.True(tdoc.RootElement.GetProperty("expires_in").GetInt32() > 0);
                    AssertJwtShape(token, p["service"]);
                    _auth[scopeKey] = new AuthenticationHeaderValue("Bearer", token);
                }
                resp = await _http.SendAsync(Make());
            }
            return await Finish(resp);
        }

        private static async Task<(HttpStatusCode, byte[], HttpResponseHeadersAndContent)> Finish(HttpResponseMessage resp)
        {
            using (resp)
            {
                var body = await resp.Content.ReadAsByteArrayAsync();
                return (resp.StatusCode, body, new HttpResponseHeadersAndContent(resp));
            }
        }

        private static void AssertJwtShape(string token, string service)
        {
            var parts = token.Split('.');
            Assert.Equal(3, parts.Length);
            using var header = JsonDocument.Parse(B64UrlDecode(parts[0]));
            Assert.Equal("RS256", header.RootElement.GetProperty("alg").GetString());
            using var claims = JsonDocument.Parse(B64UrlDecode(parts[1]));
            foreach (var c in new[] { "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access" })
                Assert.True(claims.RootElement.TryGetProperty(c, out _), $"claim {c} missing");
            Assert.Equal(service, claims.RootElement.GetProperty("aud").GetString());
        }

        private static byte[] B64UrlDecode(string s)
        {
            s = s.Replace('-', '+').Replace('_', '/');
            return Convert.FromBase64String(s.PadRight(s.Length + (4 - s.Length % 4) % 4, '='));
        }

        private static AuthenticationHeaderValue BasicHeader(RegistryCredentials c) =>
            new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{c.User}:{c.Password}")));

        private static Dictionary<string, string> ParseParams(string s) =>
            Regex.Matches(s, "(\\w+)=\"([^\"]*)\"").ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);

        public void Dispose() => _http.Dispose();
    }

    /// <summary>Response and content headers, captured before the response is disposed.</summary>
    private sealed class HttpResponseHeadersAndContent
    {
        private readonly Dictionary<string, string[]> _headers = new(StringComparer.OrdinalIgnoreCase);

        public HttpResponseHeadersAndContent(HttpResponseMessage resp)
        {
            foreach (var h in resp.Headers) _headers[h.Key] = h.Value.ToArray();
            foreach (var h in resp.Content.Headers) _headers[h.Key] = h.Value.ToArray();
        }

        public IEnumerable<string> GetValues(string name) =>
            _headers.TryGetValue(name, out var v) ? v : throw new KeyNotFoundException($"header {name} missing");
    }
}
