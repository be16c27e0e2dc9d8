namespace CriSharp.Streaming;

/// <summary>
/// What the streaming server needs from the runtime: processes for exec, the container's console for
/// attach, and connections into a pod's network namespace for port-forward. The runtime implements it;
/// the server knows nothing of containers beyond these calls.
/// </summary>
public interface IStreamingBackend
{
    /// <summary>Starts <paramref name="command"/> in a running container (a pty when <paramref name="tty"/>).</summary>
    Task<IStreamingProcess> ExecAsync(string containerId, IReadOnlyList<string> command, bool tty, bool stdin, CancellationToken ct);

    /// <summary>Attaches to a running container's main process through its monitor.</summary>
    Task<IStreamingProcess> AttachAsync(string containerId, bool tty, bool stdin, CancellationToken ct);

    /// <summary>A TCP connection to localhost:<paramref name="port"/> opened inside the pod's network namespace.</summary>
    Task<Stream> DialPodPortAsync(string podSandboxId, int port, CancellationToken ct);
}

/// <summary>A running exec or attach: its streams, resize, and how it ended.</summary>
public interface IStreamingProcess : IAsyncDisposable
{
    /// <summary>Null when stdin was not requested.</summary>
    Stream? Stdin { get; }
    Stream Stdout { get; }
    /// <summary>Null in TTY mode (stderr is merged into the terminal).</summary>
    Stream? Stderr { get; }
    /// <summary>Resizes the terminal (TTY mode only; ignored otherwise).</summary>
    Task ResizeAsync(ushort width, ushort height, CancellationToken ct);
    /// <summary>Completes with the exit code when the process ends (attach: when the container exits or the session detaches).</summary>
    Task<int> Exited { get; }
    /// <summary>Closes stdin (stdin_once, or the client half-closed it).</summary>
    void CloseStdin();
}
