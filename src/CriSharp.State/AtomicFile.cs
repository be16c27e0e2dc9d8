using CriSharp.Linux;

namespace CriSharp.State;

/// <summary>Writes a file so that a crash leaves either the old content or the new, never a mix.</summary>
public static class AtomicFile
{
    /// <summary>Temp file in the same directory, fsync, rename over the target, fsync the directory.</summary>
    public static void Write(string path, ReadOnlySpan<byte> content)
    {
        var dir = Path.GetDirectoryName(path)!;
        var temp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var f = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                f.Write(content);
                f.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
        FileSystem.FsyncDirectory(dir);
    }

    /// <summary>Deletes a file durably; false if it was not there.</summary>
    public static bool Delete(string path)
    {
        if (!File.Exists(path)) return false;
        File.Delete(path);
        FileSystem.FsyncDirectory(Path.GetDirectoryName(path)!);
        return true;
    }

    /// <summary>Removes temp files a crash left behind in <paramref name="dir"/>.</summary>
    public static void RemoveLeftoverTemps(string dir)
    {
        foreach (var f in Directory.EnumerateFiles(dir, ".*.tmp")) File.Delete(f);
    }
}
