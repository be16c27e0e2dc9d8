using CriSharp.Model;

namespace CriSharp.Images.Registry;

/// <summary>Why a registry operation failed; the CRI façade maps these to gRPC codes.</summary>
public enum RegistryErrorKind
{
    /// <summary>The manifest, blob or platform does not exist.</summary>
    NotFound,
    /// <summary>The registry refused us (no, wrong or insufficient credentials).</summary>
    Unauthenticated,
    /// <summary>Content we do not handle (schema 1 manifests, unknown media types, other digest algorithms).</summary>
    Unsupported,
    /// <summary>The registry sent something that breaks the protocol's promises (digest mismatch, oversize content).</summary>
    Hostile,
    /// <summary>A download made too little progress within the progress window.</summary>
    Stalled,
    /// <summary>Connection, TLS, timeout or unexpected HTTP status problems.</summary>
    Network,
}

/// <summary>A registry operation failed; the message names the registry, repository and reference or digest.</summary>
public sealed class RegistryException(RegistryErrorKind reason, string message, Exception? inner = null)
    : CriSharpException(KindOf(reason), message, inner)
{
    /// <summary>The class of registry failure.</summary>
    public RegistryErrorKind Reason { get; } = reason;

    static ErrorKind KindOf(RegistryErrorKind reason) => reason switch
    {
        RegistryErrorKind.NotFound => ErrorKind.NotFound,
        RegistryErrorKind.Unauthenticated => ErrorKind.Unauthenticated,
        RegistryErrorKind.Stalled => ErrorKind.DeadlineExceeded,
        RegistryErrorKind.Network => ErrorKind.Unavailable,
        _ => ErrorKind.FailedPrecondition,
    };
}
