using System.Diagnostics.Metrics;
using Prometheus;

namespace CriSharp.Daemon.Metrics;

/// <summary>
/// Publishes the instruments of the "CriSharp" meter (recorded by the engine and the façade through
/// System.Diagnostics.Metrics) as the Prometheus metrics listed in <see cref="Map"/>, in one registry.
/// </summary>
public sealed class MeterBridge : IDisposable
{
    /// <summary>Meter name the engine's instruments use.</summary>
    public const string MeterName = "CriSharp";

    static readonly double[] RpcBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
    static readonly double[] PullBuckets = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

    /// <summary>Instrument name → Prometheus metric (name, help, labels = the instrument's tag names, histogram buckets or null for a counter).</summary>
    public static readonly IReadOnlyDictionary<string, (string Name, string Help, string[] Labels, double[]? Buckets)> Map =
        new Dictionary<string, (string, string, string[], double[]?)>(StringComparer.Ordinal)
        {
            ["crisharp.grpc.request_duration"] = ("crisharp_grpc_request_duration_seconds", "Duration of CRI calls by service and method.", ["service", "method"], RpcBuckets),
            ["crisharp.grpc.request_errors"] = ("crisharp_grpc_request_errors_total", "CRI calls that ended with a non-OK gRPC status.", ["service", "method", "code"], null),
            ["crisharp.image.pull_bytes"] = ("crisharp_image_pull_bytes_total", "Bytes downloaded by successful image pulls.", [], null),
            ["crisharp.image.pull_duration"] = ("crisharp_image_pull_duration_seconds", "Duration of successful image pulls.", [], PullBuckets),
            ["crisharp.container.oom_kills"] = ("crisharp_container_oom_kills_total", "Containers that stopped because the OOM killer killed them.", [], null),
            ["crisharp.container.create_failures"] = ("crisharp_container_create_failures_total", "Container creates refused by the OCI runtime or conmon.", [], null),
            ["crisharp.records.quarantined"] = ("crisharp_records_quarantined_total", "Record files that could not be read and were moved to quarantine, by kind.", ["kind"], null),
            ["crisharp.external_program.failures"] = ("crisharp_external_program_failures_total", "Runs of runc, crun, conmon or CNI plugins that exited non-zero, timed out or could not start.", ["program", "reason"], null),
        };

    readonly MeterListener _listener = new();

    public CollectorRegistry Registry { get; } = Prometheus.Metrics.NewCustomRegistry();

    public MeterBridge()
    {
        DotNetStats.Register(Registry); // process_cpu_seconds_total, process_resident_memory_bytes, GC counts
        var factory = Prometheus.Metrics.WithCustomRegistry(Registry);
        var sinks = Map.ToDictionary(kv => kv.Key, kv => Sink.Create(factory, kv.Value), StringComparer.Ordinal);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == MeterName && sinks.TryGetValue(instrument.Name, out var sink))
                listener.EnableMeasurementEvents(instrument, sink);
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, state) => ((Sink)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<double>((_, value, tags, state) => ((Sink)state!).Record(value, tags));
        _listener.Start();
    }

    public void Dispose() => _listener.Dispose();

    /// <summary>One Prometheus counter or histogram fed by one instrument; tags become label values by name.</summary>
    sealed class Sink(string[] labels, Counter? counter, Histogram? histogram)
    {
        public static Sink Create(IMetricFactory factory, (string Name, string Help, string[] Labels, double[]? Buckets) m) =>
            m.Buckets is { } buckets
                ? new Sink(m.Labels, null, factory.CreateHistogram(m.Name, m.Help, m.Labels, new HistogramConfiguration { Buckets = buckets }))
                : new Sink(m.Labels, factory.CreateCounter(m.Name, m.Help, m.Labels), null);

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var values = new string[labels.Length];
            for (var i = 0; i < labels.Length; i++)
            {
                values[i] = "";
                foreach (var t in tags)
                    if (t.Key == labels[i]) { values[i] = t.Value?.ToString() ?? ""; break; }
            }
            if (counter != null) counter.WithLabels(values).Inc(value);
            else histogram!.WithLabels(values).Observe(value);
        }
    }
}
