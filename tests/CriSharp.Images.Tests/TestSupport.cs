using System.Collections.Concurrent;
using CriSharp.Configuration;
using CriSharp.Images.Content;
using CriSharp.Images.Registry;

namespace CriSharp.Images.Tests;

/// <summary>Records the URI of every request that reaches the wire.</summary>
public sealed class RecordingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    public ConcurrentQueue<Uri> Requests { get; } = new();

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Requests.Enqueue(request.RequestUri!);
        return base.SendAsync(request, cancellationToken);
    }
}

/// <summary>A registry client wired for tests: given config, short timings, every request recorded.</summary>
public sealed class TestClient : IDisposable
{
    private readonly ConcurrentQueue<RecordingHandler> _handlers = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("crisharp-images-test-").FullName;

    public TestClient(Action<DaemonConfig>? configure = null, RegistryClientOptions? options = null)
    {
        var config = new DaemonConfig();
        configure?.Invoke(config);
        Client = new RegistryClient(new LiveConfig(config, new ConfigSources()), Serilog.Core.Logger.None,
            (options ?? Fast) with
            {
                WrapHandler = inner =>
                {
                    var recorder = new RecordingHandler(inner);
                    _handlers.Enqueue(recorder);
                    return recorder;
                },
            });
    }

    /// <summary>Short windows and backoff so failure tests finish quickly.</summary>
    public static RegistryClientOptions Fast { get; } = new()
    {
        ProgressWindow = TimeSpan.FromSeconds(2),
        MinBytesPerSecond = 1,
        RetryBaseDelay = TimeSpan.FromMilliseconds(50),
        MaxRetryDelay = TimeSpan.FromMilliseconds(400),
        RequestTimeout = TimeSpan.FromSeconds(20),
        ConnectTimeout = TimeSpan.FromSeconds(5),
    };

    public RegistryClient Client { get; }

    /// <summary>Every request URI sent so far, across all handlers.</summary>
    public IReadOnlyList<Uri> Requests => _handlers.SelectMany(h => h.Requests).ToList();

    /// <summary>A fresh ingest target in this client's temp dir.</summary>
    public IngestTarget Target(Descriptor descriptor) =>
        new(descriptor, Path.Combine(_dir, $"{descriptor.Digest.Hex}-{Guid.NewGuid():N}.partial"));

    /// <summary>Fetches a blob and returns its bytes.</summary>
    public async Task<byte[]> FetchAsync(ResolvedImage image, Descriptor blob, CancellationToken ct = default)
    {
        var target = Target(blob);
        await Client.FetchBlobAsync(image, blob, target, ct);
        return await File.ReadAllBytesAsync(target.Path, ct);
    }

    public void Dispose()
    {
        Client.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
