using CriSharp.Model;

namespace CriSharp.Mechanism.Cgroups;

/// <summary>Shared parts of the cgroupfs drivers: path naming, file writes, removal.</summary>
public abstract class CgroupfsManagerBase : ICgroupManager
{
    public abstract bool IsV2 { get; }

    public string PodCgroupPath(string cgroupParent, string podId) =>
        string.IsNullOrWhiteSpace(cgroupParent)
            ? CgroupManager.NormalizePath("/crisharp/" + podId)
            : CgroupManager.NormalizePath(cgroupParent.StartsWith('/') ? cgroupParent : "/" + cgroupParent);

    public string ContainerCgroupPath(string podCgroupPath, string containerId) =>
        CgroupManager.NormalizePath(podCgroupPath) + "/crisharp-" + containerId;

    public abstract void Create(string path, ResourceSpec? resources);
    public abstract void Update(string path, ResourceSpec resources);
    public abstract void Remove(string path);
    public abstract CgroupStatsReader CreateStatsReader();
    public abstract long OomKillCount(string cgroupPath);

    /// <summary>Writes <paramref name="value"/> in one write(2), as cgroupfs wants.</summary>
    protected static void WriteFile(string file, string value)
    {
        try
        {
            using var fs = new FileStream(file, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
            fs.Write(System.Text.Encoding.ASCII.GetBytes(value));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CgroupException(file, $"writing '{value}': {e.Message}", e);
        }
    }

    protected static string ReadFile(string file) => File.ReadAllText(file).Trim();

    /// <summary>Removes <paramref name="dir"/> and any sub-cgroups (deepest first), retrying briefly while busy.</summary>
    protected static void RemoveTree(string dir)
    {
        if (!Directory.Exists(dir)) return;
        string[] children;
        try
        {
            children = Directory.GetDirectories(dir);
        }
        catch (DirectoryNotFoundException)
        {
            return; // removed concurrently (a container's cgroup going while its pod's goes)
        }
        foreach (var child in children) RemoveTree(child);
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                Directory.Delete(dir); // rmdir(2): cgroupfs dirs are removed with their control files
                return;
            }
            catch (DirectoryNotFoundException)
            {
                return;
            }
            catch (IOException e) when (attempt < 20)
            {
                // EBUSY while the last processes are still exiting.
                _ = e;
                Thread.Sleep(50);
            }
            catch (IOException e)
            {
                throw new CgroupException(dir, $"cannot remove: {e.Message}", e);
            }
        }
    }

    /// <summary>Each prefix of an absolute cgroup path: "/a/b" → "/a", "/a/b".</summary>
    protected static IEnumerable<string> Prefixes(string path)
    {
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 1; i <= segments.Length; i++) yield return "/" + string.Join('/', segments[..i]);
    }

    /// <summary>The hugetlb page size as cgroupfs names it ("2MB", "1GB"), checked to be a plain token.</summary>
    protected static string HugePageSize(string size)
    {
        if (size.Length == 0 || !size.All(char.IsAsciiLetterOrDigit))
            throw new ArgumentException($"invalid hugepage size '{size}'");
        return size;
    }

    protected static string Join(string root, string path) => root.TrimEnd('/') + path;
}
