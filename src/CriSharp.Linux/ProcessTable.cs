using System.Globalization;

namespace CriSharp.Linux;

/// <summary>One process as /proc/&lt;pid&gt;/stat shows it.</summary>
public readonly record struct ProcessEntry(int Pid, int ParentPid, int ProcessGroup, int Session, char State)
{
    /// <summary>A zombie or dead process: it holds nothing and cannot be signalled away.</summary>
    public bool IsGone => State is 'Z' or 'X' or 'x';
}

/// <summary>
/// A snapshot of the host's processes read from /proc: parent/child and session relations, and which
/// processes hold which pipes. Used to end everything an exec started, including orphaned background children.
/// </summary>
public sealed class ProcessTable
{
    readonly Dictionary<int, ProcessEntry> _entries;

    ProcessTable(Dictionary<int, ProcessEntry> entries) => _entries = entries;

    public IReadOnlyCollection<ProcessEntry> Entries => _entries.Values;

    public ProcessEntry? Get(int pid) => _entries.TryGetValue(pid, out var e) ? e : null;

    /// <summary>Reads every /proc/&lt;pid&gt;/stat; processes that vanish meanwhile are skipped.</summary>
    public static ProcessTable Snapshot()
    {
        var entries = new Dictionary<int, ProcessEntry>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            if (Read(pid) is { } e) entries[pid] = e;
        }
        return new ProcessTable(entries);
    }

    /// <summary>/proc/&lt;pid&gt;/stat of one process, or null when it is gone.</summary>
    public static ProcessEntry? Read(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return Parse(stat);
    }

    /// <summary>Parses a stat line: "pid (comm) state ppid pgrp session ..."; comm may hold spaces and parentheses.</summary>
    public static ProcessEntry? Parse(string stat)
    {
        var close = stat.LastIndexOf(')');
        var open = stat.IndexOf('(');
        if (close < 0 || open < 0) return null;
        var fields = stat[(close + 2)..].Split(' ', 5);
        if (fields.Length < 4 || fields[0].Length != 1) return null;
        if (!int.TryParse(stat.AsSpan(0, open).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) return null;
        static int Int(string s) => int.Parse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        return new ProcessEntry(pid, Int(fields[1]), Int(fields[2]), Int(fields[3]), fields[0][0]);
    }

    /// <summary>Live (not zombie) direct children of <paramref name="pid"/>.</summary>
    public IEnumerable<int> ChildrenOf(int pid) =>
        _entries.Values.Where(e => e.ParentPid == pid && !e.IsGone).Select(e => e.Pid);

    /// <summary>Every live descendant of <paramref name="pid"/> (not the process itself).</summary>
    public IReadOnlyList<int> DescendantsOf(int pid)
    {
        var byParent = _entries.Values.Where(e => !e.IsGone).ToLookup(e => e.ParentPid, e => e.Pid);
        var result = new List<int>();
        var queue = new Queue<int>([pid]);
        var seen = new HashSet<int> { pid };
        while (queue.Count > 0)
            foreach (var child in byParent[queue.Dequeue()])
                if (seen.Add(child))
                {
                    result.Add(child);
                    queue.Enqueue(child);
                }
        return result;
    }

    /// <summary>Live members of the given sessions.</summary>
    public IEnumerable<int> InSessions(IReadOnlySet<int> sessions) =>
        _entries.Values.Where(e => !e.IsGone && sessions.Contains(e.Session)).Select(e => e.Pid);

    /// <summary>The inodes of the pipes <paramref name="pid"/> has open, by descriptor number.</summary>
    public static IReadOnlyDictionary<int, ulong> PipesOf(int pid)
    {
        var result = new Dictionary<int, ulong>();
        IEnumerable<string> fds;
        try
        {
            fds = Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return result;
        }
        foreach (var fd in fds)
            if (int.TryParse(Path.GetFileName(fd), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && PipeInode(fd) is { } inode)
                result[n] = inode;
        return result;
    }

    /// <summary>Processes (other than <paramref name="exclude"/>) with any of the pipes <paramref name="inodes"/> open.</summary>
    public IReadOnlyList<int> HoldersOf(IReadOnlySet<ulong> inodes, IReadOnlySet<int> exclude)
    {
        var holders = new List<int>();
        if (inodes.Count == 0) return holders;
        foreach (var e in _entries.Values)
        {
            if (e.IsGone || exclude.Contains(e.Pid)) continue;
            IEnumerable<string> fds;
            try
            {
                fds = Directory.EnumerateFileSystemEntries($"/proc/{e.Pid}/fd").ToList();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            if (fds.Any(fd => PipeInode(fd) is { } i && inodes.Contains(i))) holders.Add(e.Pid);
        }
        return holders;
    }

    static ulong? PipeInode(string fdPath)
    {
        string? target;
        try
        {
            target = new FileInfo(fdPath).LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        // "pipe:[123456]"
        if (target is null || !target.StartsWith("pipe:[", StringComparison.Ordinal) || !target.EndsWith(']')) return null;
        return ulong.TryParse(target.AsSpan(6, target.Length - 7), NumberStyles.None, CultureInfo.InvariantCulture, out var inode) ? inode : null;
    }
}
