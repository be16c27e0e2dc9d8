using System.Diagnostics.Metrics;

namespace CriSharp.Images;

/// <summary>Image pull instruments on the "CriSharp" meter; the daemon exports them when [metrics] is enabled.</summary>
public static class ImageMetrics
{
    static readonly Meter Meter = new("CriSharp");

    /// <summary>Bytes downloaded from registries by successful pulls (blobs already present are not counted).</summary>
    public static readonly Counter<long> PullBytes =
        Meter.CreateCounter<long>("crisharp.image.pull_bytes", unit: "By", description: "Bytes downloaded by successful image pulls.");

    /// <summary>Wall time of successful pulls, in seconds.</summary>
    public static readonly Histogram<double> PullDuration =
        Meter.CreateHistogram<double>("crisharp.image.pull_duration", unit: "s", description: "Duration of successful image pulls.");
}
