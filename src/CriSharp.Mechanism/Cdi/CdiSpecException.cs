using CriSharp.Model;

namespace CriSharp.Mechanism.Cdi;

/// <summary>A CDI spec file that cannot be used: unreadable, unparseable or invalid. Its devices are unavailable.</summary>
public sealed class CdiSpecException(string file, string reason) : CriSharpException(ErrorKind.FailedPrecondition, $"CDI spec {file}: {reason}")
{
    /// <summary>The spec file's path.</summary>
    public string File { get; } = file;

    /// <summary>What is wrong with it, without the path.</summary>
    public string Reason { get; } = reason;
}
