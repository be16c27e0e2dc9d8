using CriSharp.Linux;
using CriSharp.Mechanism.Processes;

namespace CriSharp.Runtime.Exec;

/// <summary>
/// Ends what an exec started. runc and crun put the exec'd process in a session of its own, so its background
/// children stay findable by session even after they are orphaned and re-parented to the container's init.
/// </summary>
public static class ExecReaper
{
    static readonly Lazy<int> OwnSession = new(() => ProcessTable.Read(Environment.ProcessId)?.Session ?? -1);

    /// <summary>
    /// SIGKILLs the runtime's descendants and every process in their sessions (never our own), repeating until a
    /// pass finds nothing alive (a fork between two passes is caught by the next), then the runtime itself.
    /// </summary>
    public static void KillAll(RunningProcess runtime)
    {
        for (var round = 0; round < 10; round++)
        {
            var table = ProcessTable.Snapshot();
            var descendants = table.DescendantsOf(runtime.Pid);
            var sessions = descendants.Select(p => table.Get(p)?.Session ?? 0)
                .Where(s => s > 1 && s != OwnSession.Value).ToHashSet();
            var victims = descendants.Concat(table.InSessions(sessions)).Where(p => p != Environment.ProcessId).ToHashSet();
            if (victims.Count == 0) break;
            foreach (var pid in victims) ProcessControl.Signal(pid, ProcessControl.SIGKILL);
        }
        runtime.KillTree();
    }

    /// <summary>Whether <paramref name="pid"/> still has a live child (for runc's exec: the exec'd process, or runc init before it).</summary>
    public static bool HasLiveChild(int pid) => ProcessTable.Snapshot().ChildrenOf(pid).Any();

    /// <summary>
    /// runc (without a tty) copies the exec'd process's output through pipes of its own and exits only when
    /// they reach EOF, so a background child holding them keeps runc, and its exit code, from us. SIGKILLs the
    /// processes (other than the runtime) that hold the runtime's pipes other than its own stdio; returns how many.
    /// </summary>
    public static int KillOutputHolders(int runtimePid)
    {
        var pipes = ProcessTable.PipesOf(runtimePid);
        var stdio = new HashSet<ulong>(pipes.Where(kv => kv.Key <= 2).Select(kv => kv.Value));
        var internalPipes = pipes.Where(kv => kv.Key > 2 && !stdio.Contains(kv.Value)).Select(kv => kv.Value).ToHashSet();
        if (internalPipes.Count == 0) return 0;
        var holders = ProcessTable.Snapshot().HoldersOf(internalPipes, new HashSet<int> { runtimePid, Environment.ProcessId });
        foreach (var pid in holders) ProcessControl.Signal(pid, ProcessControl.SIGKILL);
        return holders.Count;
    }

    /// <summary>
    /// SIGKILLs the processes other than us that hold the pipes whose read ends are <paramref name="pipes"/> (the
    /// exec's output, after the command ended and the drain bound passed); returns how many.
    /// </summary>
    public static int KillHoldersOf(params FdStream[] pipes)
    {
        var own = ProcessTable.PipesOf(Environment.ProcessId);
        var inodes = new HashSet<ulong>();
        foreach (var p in pipes)
            if (p.Fd >= 0 && own.TryGetValue(p.Fd, out var inode)) inodes.Add(inode);
        if (inodes.Count == 0) return 0;
        var holders = ProcessTable.Snapshot().HoldersOf(inodes, new HashSet<int> { Environment.ProcessId });
        foreach (var pid in holders) ProcessControl.Signal(pid, ProcessControl.SIGKILL);
        return holders.Count;
    }
}
