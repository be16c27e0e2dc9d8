using CriSharp.Linux;

namespace CriSharp.Runtime.Tests.Linux;

/// <summary>A scratch directory under /tmp whose mounts and contents are all removed on dispose.</summary>
sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine("/tmp", "crisharp-test-" + Guid.NewGuid().ToString("N")[..12]);

    public TempDir() => Directory.CreateDirectory(Path);

    public string Sub(string name)
    {
        var p = System.IO.Path.Combine(Path, name);
        Directory.CreateDirectory(p);
        return p;
    }

    public void Dispose()
    {
        try { Mounts.UnmountAllUnder(Path); } catch (LinuxException) { }
        if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
    }
}
