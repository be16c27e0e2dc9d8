using System.Diagnostics.Metrics;

namespace CriSharp.Mechanism;

/// <summary>
/// The runtime engine's instruments on the "CriSharp" meter (System.Diagnostics.Metrics, so the engine needs no
/// exporter); the daemon publishes them on its Prometheus endpoint when [metrics] is enabled.
/// </summary>
public static class RuntimeMetrics
{
    public const string MeterName = "CriSharp";

    static readonly Meter Meter = new(MeterName);

    /// <summary>Containers that stopped with reason OOMKilled.</summary>
    public static readonly Counter<long> ContainerOomKills =
        Meter.CreateCounter<long>("crisharp.container.oom_kills", description: "Containers that were killed by the OOM killer.");

    /// <summary>External programs (runc, crun, conmon, CNI plugins) that failed; tags: program, reason (exit, timeout, start).</summary>
    public static readonly Counter<long> ExternalProgramFailures =
        Meter.CreateCounter<long>("crisharp.external_program.failures", description: "External program runs that exited non-zero, timed out or could not start.");

    /// <summary>Container creates the OCI runtime or conmon refused (RuntimeCreateException).</summary>
    public static readonly Counter<long> ContainerCreateFailures =
        Meter.CreateCounter<long>("crisharp.container.create_failures", description: "Container creates refused by the OCI runtime or conmon.");
}
