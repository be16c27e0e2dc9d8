using CriSharp.Model;

namespace CriSharp.Network;

/// <summary>
/// Pod networking failed: no usable CNI config (<see cref="NotReady"/>), or a plugin failed, timed out
/// or answered something that is not CNI. The message is what the kubelet sees.
/// </summary>
public sealed class CniException : CriSharpException
{
    /// <summary>True when no usable network config exists (NetworkReady is false); RunPodSandbox cannot succeed until one appears.</summary>
    public bool NotReady { get; }
    /// <summary>The CNI error code from the plugin's error JSON, or null.</summary>
    public int? Code { get; }

    public CniException(string message, int? code = null, bool notReady = false, Exception? inner = null)
        : base(notReady ? ErrorKind.FailedPrecondition : ErrorKind.Internal, message, inner)
    {
        Code = code;
        NotReady = notReady;
    }

    /// <summary>The error for "no usable network config", naming why.</summary>
    public static CniException NetworkNotReady(string problem) =>
        new($"{NetworkReadinessProbe.NotReadyReason}: network is not ready: {problem}", notReady: true);
}
