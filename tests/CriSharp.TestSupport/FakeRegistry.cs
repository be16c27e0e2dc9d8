using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CriSharp.TestSupport;

/// <summary>
/// A small in-process registry on 127.0.0.1 (Kestrel, plain HTTP) whose answers each test scripts,
/// for the misbehaviours a real registry never shows: stalls, trickles, drops, oversize and lies.
/// </summary>
public sealed class FakeRegistry : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, Func<HttpContext, Task>> _routes = new(StringComparer.Ordinal);

    private FakeRegistry(WebApplication app) => _app = app;

    /// <summary>"127.0.0.1:port".</summary>
    public string Host { get; private set; } = "";

    /// <summary>When set, every request must carry this Authorization header value, else 401 with a Basic challenge.</summary>
    public string? RequiredAuthorization { get; set; }

    /// <summary>"METHOD path [Range] [auth]" of every request, in arrival order.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>Starts on a free port; with a certificate it speaks HTTPS only.</summary>
    public static async Task<FakeRegistry> StartAsync(X509Certificate2? certificate = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = "Production",
        });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<IHostLifetime, NoSignalsLifetime>();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, listen =>
        {
            if (certificate is not null) listen.UseHttps(certificate);
        }));
        var app = builder.Build();
        var fake = new FakeRegistry(app);
        app.Run(fake.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        fake.Host = $"127.0.0.1:{new Uri(address).Port}";
        return fake;
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        var range = ctx.Request.Headers.Range.ToString();
        var authorization = ctx.Request.Headers.Authorization.ToString();
        Requests.Enqueue($"{ctx.Request.Method} {ctx.Request.Path}{(range.Length > 0 ? " " + range : "")}{(authorization.Length > 0 ? " [auth]" : "")}");
        ctx.Response.Headers["Docker-Distribution-Api-Version"] = "registry/2.0";
        if (RequiredAuthorization is not null && authorization != RequiredAuthorization)
        {
            ctx.Response.StatusCode = 401;
            ctx.Response.Headers.WWWAuthenticate = "Basic realm=\"fake\"";
            return;
        }
        if (ctx.Request.Path == "/v2/") return;
        if (_routes.TryGetValue(ctx.Request.Path.ToString(), out var handler))
        {
            await handler(ctx);
            return;
        }
        ctx.Response.StatusCode = 404;
        await ctx.Response.WriteAsync("{\"errors\":[{\"code\":\"NAME_UNKNOWN\",\"message\":\"not here\"}]}");
    }

    /// <summary>Answers GET <paramref name="path"/> (e.g. "/v2/repo/blobs/sha256:…") with a scripted handler.</summary>
    public void Map(string path, Func<HttpContext, Task> handler) => _routes[path] = handler;

    /// <summary>Serves a manifest under a tag or digest with a content type (and optionally a Docker-Content-Digest).</summary>
    public void Manifest(string repo, string reference, byte[] bytes, string mediaType, string? contentDigest = null) =>
        Map($"/v2/{repo}/manifests/{reference}", async ctx =>
        {
            ctx.Response.ContentType = mediaType;
            if (contentDigest is not null) ctx.Response.Headers["Docker-Content-Digest"] = contentDigest;
            ctx.Response.ContentLength = bytes.Length;
            await ctx.Response.Body.WriteAsync(bytes);
        });

    /// <summary>Serves a blob the proper way: full, or from a Range start with 206.</summary>
    public void Blob(string repo, string digest, byte[] bytes) =>
        Map($"/v2/{repo}/blobs/{digest}", ctx => ServeRangeAsync(ctx, bytes));

    /// <summary>Writes bytes honouring "Range: bytes=N-".</summary>
    public static async Task ServeRangeAsync(HttpContext ctx, byte[] bytes)
    {
        var start = RangeStart(ctx);
        ctx.Response.ContentType = "application/octet-stream";
        if (start > 0)
        {
            ctx.Response.StatusCode = 206;
            ctx.Response.Headers.ContentRange = $"bytes {start}-{bytes.Length - 1}/{bytes.Length}";
        }
        ctx.Response.ContentLength = bytes.Length - start;
        await ctx.Response.Body.WriteAsync(bytes.AsMemory(start));
    }

    /// <summary>N from "Range: bytes=N-", else 0.</summary>
    public static int RangeStart(HttpContext ctx)
    {
        var range = ctx.Request.Headers.Range.ToString();
        return range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-')
            ? int.Parse(range["bytes=".Length..^1]) : 0;
    }

    public static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    public async ValueTask DisposeAsync()
    {
        using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await _app.StopAsync(stopping.Token);
        await _app.DisposeAsync();
    }

    /// <summary>The test host owns signals; the fake registry must not react to Ctrl+C or SIGTERM.</summary>
    private sealed class NoSignalsLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
