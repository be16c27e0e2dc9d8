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

    /// <summary>The exit file of container <paramref name="id"/> (there once it ended).</summary>
    string ExitFileOf(string id) => Path.Combine(ExitDir, id);

    /// <summary>The link to container <paramref name="id"/>'s attach socket dir, which goes with the container.</summary>
    string AttachLinkOf(string id) => Path.Combine(AttachDir, id);

    /// <summary>The attach socket of container <paramref name="id"/>.</summary>
    string AttachSocketOf(string id) => Path.Combine(AttachLinkOf(id), "attach");

    /// <summary>Creates the container under a new monitor; it is "created", not started.</summary>
    Task<ContainerProcess> CreateAsync(ContainerLaunch request, CancellationToken ct = default);

    /// <summary>Asks the container's monitor to reopen its log file (after log rotation).</summary>
    Task ReopenLogAsync(string bundle, string logPath, CancellationToken ct = default);
}
