using System.Globalization;
using System.Text;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace CriSharp.Linux;

/// <summary>mount(2) flags (the MS_* values from &lt;sys/mount.h&gt;).</summary>
[Flags]
public enum MountFlags : ulong
{
    None = 0,
    ReadOnly = 1,
    NoSuid = 2,
    NoDev = 4,
    NoExec = 8,
    Synchronous = 16,
    Remount = 32,
    DirSync = 128,
    NoAtime = 1024,
    NoDirAtime = 2048,
    Bind = 4096,
    Move = 8192,
    Rec = 16384,
    Silent = 32768,
    Unbindable = 1 << 17,
    Private = 1 << 18,
    Slave = 1 << 19,
    Shared = 1 << 20,
    RelAtime = 1 << 21,
    StrictAtime = 1 << 24,
}

/// <summary>One line of /proc/self/mountinfo, with escapes decoded.</summary>
public sealed record MountInfo(
    int Id,
    int ParentId,
    string MajorMinor,
    string Root,
    string MountPoint,
    string MountOptions,
    IReadOnlyList<string> OptionalFields,
    string FsType,
    string Source,
    string SuperOptions)
{
    /// <summary>The peer group id when the mount is shared ("shared:N").</summary>
    public int? SharedGroup => Field("shared:");

    /// <summary>The peer group this mount receives propagation from ("master:N").</summary>
    public int? MasterGroup => Field("master:");

    public bool IsShared => SharedGroup is not null;
    public bool IsSlave => MasterGroup is not null;
    public bool IsUnbindable => OptionalFields.Contains("unbindable");

    int? Field(string prefix)
    {
        foreach (var f in OptionalFields)
            if (f.StartsWith(prefix, StringComparison.Ordinal)
                && int.TryParse(f.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                return n;
        return null;
    }
}

/// <summary>Mounting, unmounting and reading the mount table.</summary>
public static unsafe class Mounts
{
    /// <summary>The kernel copies at most one page of mount data, including the terminating NUL.</summary>
    public const int MaxMountDataBytes = 4095;

    /// <summary>mount(2). <paramref name="data"/> is the file-system specific option string.</summary>
    public static void Mount(string? source, string target, string? fsType, MountFlags flags, string? data = null)
    {
        byte[]? src = source is null ? null : FileSystem.NullTerminated(source);
        byte[]? fst = fsType is null ? null : FileSystem.NullTerminated(fsType);
        byte[]? dat = string.IsNullOrEmpty(data) ? null : FileSystem.NullTerminated(data);
        if (dat is not null && dat.Length - 1 > MaxMountDataBytes)
            throw new ArgumentException(
                $"mount data for {target} is {dat.Length - 1} bytes, over the kernel's {MaxMountDataBytes}-byte limit", nameof(data));
        int rc;
        fixed (byte* s = src)
        fixed (byte* t = FileSystem.NullTerminated(target))
        fixed (byte* f = fst)
        fixed (byte* d = dat)
            rc = mount(s, t, f, (ulong_t)(ulong)flags, d);
        if (rc != 0) throw new LinuxException(fsType is null ? "mount" : $"mount({fsType})", target, errno);
    }

    /// <summary>Bind-mounts <paramref name="source"/> on <paramref name="target"/>; a read-only bind needs a second remount call.</summary>
    public static void Bind(string source, string target, bool readOnly = false, bool recursive = false)
    {
        var rec = recursive ? MountFlags.Rec : MountFlags.None;
        Mount(source, target, null, MountFlags.Bind | rec);
        if (!readOnly) return;
        try
        {
            // Keep the flags the source mount already has (nosuid, nodev...): an unprivileged-locked flag
            // cannot be cleared by a remount, so dropping them would fail with EPERM in user namespaces.
            var keep = MountFlags.None;
            var info = FindMount(target);
            if (info is not null) keep = FlagsFromOptions(info.MountOptions) & ~MountFlags.ReadOnly;
            Mount(null, target, null, MountFlags.Remount | MountFlags.Bind | MountFlags.ReadOnly | keep);
        }
        catch
        {
            Unmount(target, detach: true);
            throw;
        }
    }

    /// <summary>Changes propagation of the mount at <paramref name="target"/> to private.</summary>
    public static void MakePrivate(string target, bool recursive = false) => SetPropagation(target, MountFlags.Private, recursive);

    /// <summary>Changes propagation of the mount at <paramref name="target"/> to slave.</summary>
    public static void MakeSlave(string target, bool recursive = false) => SetPropagation(target, MountFlags.Slave, recursive);

    /// <summary>Changes propagation of the mount at <paramref name="target"/> to shared.</summary>
    public static void MakeShared(string target, bool recursive = false) => SetPropagation(target, MountFlags.Shared, recursive);

    static void SetPropagation(string target, MountFlags kind, bool recursive) =>
        Mount(null, target, null, kind | (recursive ? MountFlags.Rec : MountFlags.None));

    /// <summary>umount2(2); false when nothing is mounted there (EINVAL) or the path is missing (ENOENT).</summary>
    public static bool Unmount(string target, bool detach = false)
    {
        int rc;
        fixed (byte* t = FileSystem.NullTerminated(target))
            rc = umount2(t, detach ? MNT_DETACH : 0);
        if (rc == 0) return true;
        var e = errno;
        if (e == EINVAL || e == ENOENT) return false;
        throw new LinuxException(detach ? "umount2(MNT_DETACH)" : "umount2", target, e);
    }

    /// <summary>Mounts a tmpfs of at most <paramref name="sizeBytes"/> (0 = kernel default) with an octal mode ("1777").</summary>
    public static void MountTmpfs(string target, long sizeBytes = 0, string mode = "755",
        MountFlags flags = MountFlags.NoSuid | MountFlags.NoDev, string? extraData = null)
    {
        if (mode.Length is 0 or > 4 || mode.Any(c => c is < '0' or > '7'))
            throw new ArgumentException($"tmpfs mode must be octal digits, got '{mode}'", nameof(mode));
        if (extraData is not null && extraData.Any(c => c is '\0' or '\n'))
            throw new ArgumentException("tmpfs options may not contain NUL or newline", nameof(extraData));
        var data = new StringBuilder();
        data.Append("mode=").Append(mode);
        if (sizeBytes > 0) data.Append(",size=").Append(sizeBytes.ToString(CultureInfo.InvariantCulture));
        if (!string.IsNullOrEmpty(extraData)) data.Append(',').Append(extraData);
        Mount("tmpfs", target, "tmpfs", flags, data.ToString());
    }

    /// <summary>
    /// Mounts an overlay. With no <paramref name="upper"/> (or <paramref name="readOnly"/>) it is a read-only stack of
    /// lowers. When the option string would exceed one page, or a path holds a character overlayfs treats specially,
    /// the lowers are reached through short symlinks in a temporary directory, removed again after the mount.
    /// </summary>
    public static void MountOverlay(IReadOnlyList<string> lowerDirsTopFirst, string? upper, string? work, string target,
        bool readOnly = false, string? linkDirectoryBase = null)
    {
        if (lowerDirsTopFirst.Count == 0) throw new ArgumentException("overlay needs at least one lower directory", nameof(lowerDirsTopFirst));
        bool withUpper = !readOnly && !string.IsNullOrEmpty(upper);
        if (withUpper && string.IsNullOrEmpty(work)) throw new ArgumentException("overlay with an upper directory needs a work directory", nameof(work));
        if (!withUpper && lowerDirsTopFirst.Count == 1)
            throw new ArgumentException("a read-only overlay needs at least two lower directories", nameof(lowerDirsTopFirst));
        foreach (var p in new[] { upper, work, target })
            if (p is not null && HasSpecialChar(p)) throw new ArgumentException($"overlay path has ':', ',' or '\\': {p}");

        string Data(IEnumerable<string> lowers)
        {
            var sb = new StringBuilder("lowerdir=").AppendJoin(':', lowers);
            if (withUpper) sb.Append(",upperdir=").Append(upper).Append(",workdir=").Append(work);
            return sb.ToString();
        }

        var flags = readOnly ? MountFlags.ReadOnly : MountFlags.None;
        var direct = Data(lowerDirsTopFirst);
        if (Encoding.UTF8.GetByteCount(direct) <= MaxMountDataBytes && !lowerDirsTopFirst.Any(HasSpecialChar))
        {
            Mount("overlay", target, "overlay", flags, direct);
            return;
        }

        // overlayfs resolves each lowerdir at mount time (following symlinks) and keeps the dentries, so short
        // links in a private temp dir work and can go right after; no fork or process-wide chdir needed.
        var linkBase = linkDirectoryBase ?? "/tmp";
        var linkDir = Path.Combine(linkBase, ".ovl" + Convert.ToHexString(Guid.NewGuid().ToByteArray().AsSpan(0, 4)).ToLowerInvariant());
        Directory.CreateDirectory(linkDir);
        try
        {
            var links = new List<string>(lowerDirsTopFirst.Count);
            for (int i = 0; i < lowerDirsTopFirst.Count; i++)
            {
                var link = linkDir + "/" + i.ToString("x", CultureInfo.InvariantCulture);
                File.CreateSymbolicLink(link, Path.GetFullPath(lowerDirsTopFirst[i]));
                links.Add(link);
            }
            var viaLinks = Data(links);
            if (Encoding.UTF8.GetByteCount(viaLinks) > MaxMountDataBytes)
                throw new ArgumentException(
                    $"overlay on {target}: {lowerDirsTopFirst.Count} lower directories do not fit the {MaxMountDataBytes}-byte mount data limit even through short links");
            Mount("overlay", target, "overlay", flags, viaLinks);
        }
        finally
        {
            try { Directory.Delete(linkDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    static bool HasSpecialChar(string p) => p.IndexOfAny([':', ',', '\\']) >= 0;

    /// <summary>The mount table of this process (/proc/self/mountinfo).</summary>
    public static IReadOnlyList<MountInfo> ReadMountInfo() => ParseMountInfo(File.ReadAllText("/proc/self/mountinfo"));

    /// <summary>Parses mountinfo text (see proc(5)); malformed lines are skipped.</summary>
    public static IReadOnlyList<MountInfo> ParseMountInfo(string text)
    {
        var result = new List<MountInfo>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0) continue;
            var parts = line.Split(' ');
            if (parts.Length < 10) continue;
            int sep = Array.IndexOf(parts, "-", 6);
            if (sep < 0 || parts.Length < sep + 4) continue;
            if (!int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var id)
                || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var parent))
                continue;
            result.Add(new MountInfo(
                id, parent, parts[2], Unescape(parts[3]), Unescape(parts[4]), parts[5],
                parts[6..sep], Unescape(parts[sep + 1]), Unescape(parts[sep + 2]), Unescape(parts[sep + 3])));
        }
        return result;
    }

    /// <summary>Decodes the kernel's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash).</summary>
    public static string Unescape(string s)
    {
        if (s.IndexOf('\\') < 0) return s;
        var bytes = new List<byte>(s.Length);
        var src = Encoding.UTF8.GetBytes(s);
        for (int i = 0; i < src.Length; i++)
        {
            if (src[i] == (byte)'\\' && i + 3 < src.Length && IsOctal(src[i + 1]) && IsOctal(src[i + 2]) && IsOctal(src[i + 3]))
            {
                bytes.Add((byte)(((src[i + 1] - '0') << 6) | ((src[i + 2] - '0') << 3) | (src[i + 3] - '0')));
                i += 3;
            }
            else bytes.Add(src[i]);
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    static bool IsOctal(byte b) => b >= (byte)'0' && b <= (byte)'7';

    /// <summary>True when something is mounted exactly at <paramref name="path"/> (symlinks resolved).</summary>
    public static bool IsMountPoint(string path) => FindMount(path) is not null;

    /// <summary>The topmost mount at exactly <paramref name="path"/>, or null.</summary>
    public static MountInfo? FindMount(string path)
    {
        var full = Canonical(path);
        if (full is null) return null;
        MountInfo? found = null;
        foreach (var m in ReadMountInfo())
            if (m.MountPoint == full) found = m; // later lines are mounted on top
        return found;
    }

    /// <summary>
    /// Unmounts every mount at or below <paramref name="prefix"/>, deepest first, lazily when busy.
    /// Returns how many were unmounted.
    /// </summary>
    public static int UnmountAllUnder(string prefix)
    {
        var root = Canonical(prefix) ?? Path.GetFullPath(prefix).TrimEnd('/');
        if (root.Length == 0) throw new ArgumentException("refusing to unmount everything under /", nameof(prefix));
        int count = 0;
        // Stacked mounts and mounts hidden by ones above them need more than one pass.
        for (int pass = 0; pass < 8; pass++)
        {
            var table = ReadMountInfo();
            var under = table
                .Select((m, index) => (m, index))
                .Where(x => x.m.MountPoint == root || x.m.MountPoint.StartsWith(root + "/", StringComparison.Ordinal))
                .OrderByDescending(x => x.m.MountPoint.Count(c => c == '/'))
                .ThenByDescending(x => x.index)
                .ToList();
            if (under.Count == 0) break;
            int before = count;
            foreach (var (m, _) in under)
            {
                try
                {
                    if (Unmount(m.MountPoint)) count++;
                }
                catch (LinuxException e) when (e.Errno == EBUSY)
                {
                    if (Unmount(m.MountPoint, detach: true)) count++;
                }
            }
            if (count == before) break;
        }
        return count;
    }

    /// <summary>The absolute path with symlinks resolved, as mountinfo shows it; null if it does not exist.</summary>
    static string? Canonical(string path)
    {
        var full = Path.GetFullPath(path);
        if (full.Length > 1) full = full.TrimEnd('/');
        var parts = full.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var current = "/";
        int hops = 0;
        var queue = new Queue<string>(parts);
        while (queue.Count > 0)
        {
            var part = queue.Dequeue();
            var next = current == "/" ? "/" + part : current + "/" + part;
            var kind = FileSystem.GetKind(next);
            if (kind == FileKind.Missing) return null;
            if (kind == FileKind.Symlink)
            {
                if (++hops > 40) return null;
                var target = File.ResolveLinkTarget(next, returnFinalTarget: false)?.LinkTarget ?? "";
                var resolved = Path.GetFullPath(target, current);
                var rest = queue.ToArray();
                queue = new Queue<string>(resolved.Split('/', StringSplitOptions.RemoveEmptyEntries).Concat(rest));
                current = "/";
                continue;
            }
            current = next;
        }
        return current;
    }

    /// <summary>The MS_* flags named in a mountinfo per-mount option string ("rw,nosuid,nodev,relatime").</summary>
    public static MountFlags FlagsFromOptions(string options)
    {
        var f = MountFlags.None;
        foreach (var o in options.Split(','))
        {
            f |= o switch
            {
                "ro" => MountFlags.ReadOnly,
                "nosuid" => MountFlags.NoSuid,
                "nodev" => MountFlags.NoDev,
                "noexec" => MountFlags.NoExec,
                "noatime" => MountFlags.NoAtime,
                "nodiratime" => MountFlags.NoDirAtime,
                "relatime" => MountFlags.RelAtime,
                "sync" => MountFlags.Synchronous,
                "dirsync" => MountFlags.DirSync,
                _ => MountFlags.None,
            };
        }
        return f;
    }
}
