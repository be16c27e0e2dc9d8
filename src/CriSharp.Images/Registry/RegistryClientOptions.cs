using CriSharp.Configuration;

namespace CriSharp.Images.Registry;

/// <summary>Timing and limit knobs of <see cref="RegistryClient"/>; tests shrink them, the daemon builds them from config.</summary>
public sealed record RegistryClientOptions
{
    /// <summary>Stall detection window: each window must bring at least max(1, MinBytesPerSecond × window) bytes.</summary>
    public TimeSpan ProgressWindow { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Minimum average throughput over a window.</summary>
    public long MinBytesPerSecond { get; init; } = 1024;
    /// <summary>First retry delay; doubled per failed attempt.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);
    /// <summary>Upper bound of one retry delay.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(8);
    /// <summary>Attempts per request (blob downloads reset the count whenever an attempt made progress).</summary>
    public int MaxAttempts { get; init; } = 5;
    /// <summary>Timeout of one small request (ping, token, manifest, config); blobs use stall detection instead.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>TCP/TLS connect timeout.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Largest manifest or config blob accepted.</summary>
    public int MaxManifestBytes { get; init; } = 4 * 1024 * 1024;
    /// <summary>Wraps every HTTP handler the client creates (tests record requests with it).</summary>
    public Func<HttpMessageHandler, HttpMessageHandler>? WrapHandler { get; init; }

    /// <summary>The bytes a progress window must bring.</summary>
    public long RequiredBytesPerWindow => Math.Max(1, (long)(MinBytesPerSecond * ProgressWindow.TotalSeconds));

    /// <summary>Options from <c>[images]</c> in the daemon config.</summary>
    public static RegistryClientOptions FromConfig(ImagesConfig images) => new()
    {
        ProgressWindow = TimeSpan.FromSeconds(images.PullProgressWindowSeconds),
        MinBytesPerSecond = images.PullMinBytesPerSecond,
    };
}
