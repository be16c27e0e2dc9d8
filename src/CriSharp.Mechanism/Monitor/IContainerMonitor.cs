namespace CriSharp.Mechanism.Monitor;

/// <summary>
/// The per-container monitor as the lifecycle drives it: the seam between the engine's verbs and conmon.
/// <see cref="ConmonMonitor"/> runs the real conmon; unit tests of the lifecycle use a fake.
/// </summary>
public interface IContainerMonitor
{
    /// <summary>Where the monitor writes one exit file per container, named by its id.</summary>
    string ExitDir { get; }

    /// <summary>Where the monitor links each container's attach socket dir, named by its id.</summary>
    string AttachDir { get; }

    /// <summary>Creates the container under a new monitor; it is "created", not started.</summary>
    Task<ContainerProcess> CreateAsync(ContainerLaunch request, CancellationToken ct = default);

    /// <summary>Asks the container's monitor to reopen its log file (after log rotation).</summary>
    Task ReopenLogAsync(string bundle, string logPath, CancellationToken ct = default);
}
