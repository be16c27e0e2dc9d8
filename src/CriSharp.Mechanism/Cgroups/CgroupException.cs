using CriSharp.Model;

namespace CriSharp.Mechanism.Cgroups;

/// <summary>A cgroup file could not be written or a cgroup dir could not be made or removed.</summary>
public sealed class CgroupException(string path, string message, Exception? inner = null)
    : CriSharpException(ErrorKind.Internal, $"cgroup {path}: {message}", inner)
{
    public string Path { get; } = path;
}
