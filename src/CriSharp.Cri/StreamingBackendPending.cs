using CriSharp.Streaming;

namespace CriSharp.Cri;

/// <summary>
/// Stands in for the runtime's <see cref="IStreamingBackend"/> until one is registered: URLs are still issued and
/// redeemed, and each session then reports that exec, attach and port-forward are not available yet.
/// </summary>
sealed class StreamingBackendPending : IStreamingBackend
{
    const string Message = "crisharp's runtime does not provide exec, attach or port-forward yet";

    public Task<IStreamingProcess> ExecAsync(string containerId, IReadOnlyList<string> command, bool tty, bool stdin, CancellationToken ct) =>
        throw new NotSupportedException(Message);

    public Task<IStreamingProcess> AttachAsync(string containerId, bool tty, bool stdin, CancellationToken ct) =>
        throw new NotSupportedException(Message);

    public Task<Stream> DialPodPortAsync(string podSandboxId, int port, CancellationToken ct) =>
        throw new NotSupportedException(Message);
}
