using System.Runtime.InteropServices;
using System.Text;
using static Tmds.Linux.LibC;

namespace CriSharp.Linux;

/// <summary>
/// posix_spawn for what .NET's Process cannot do: start a program in a new session on a pty slave (as its
/// controlling terminal and stdio), e.g. runc running a tty exec in the foreground. Tmds.LibC lacks
/// posix_spawn and waitpid, so they are imported from libc here (the one place allowed to call Linux).
/// </summary>
public static unsafe partial class Spawn
{
    const short POSIX_SPAWN_SETSIGMASK = 0x08, POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSID = 0x80;
    // glibc: posix_spawn_file_actions_t is 80 bytes and posix_spawnattr_t 336 on 64-bit; generous buffers.
    const int OpaqueSize = 1024;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int posix_spawn_file_actions_init(void* actions);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int posix_spawn_file_actions_destroy(void* actions);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int posix_spawn_file_actions_addopen(void* actions, int fd, byte* path, int oflag, uint mode);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int posix_spawn_file_actions_adddup2(void* actions, int fd, int newfd);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int posix_spawnattr_init(void* attr);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int posix_spawnattr_destroy(void* attr);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int posix_spawnattr_setflags(void* attr, short flags);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int posix_spawnattr_setsigmask(void* attr, void* sigset);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int posix_spawnattr_setsigdefault(void* attr, void* sigset);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int posix_spawn(int* pid, byte* path, void* actions, void* attr, byte** argv, byte** envp);
    [LibraryImport("libc", SetLastError = true)]
    private static partial int waitpid(int pid, int* status, int options);

    /// <summary>
    /// Starts <paramref name="file"/> with <paramref name="args"/> (argv[1..]) and this process's environment in a
    /// new session whose controlling terminal and stdin/stdout/stderr are <paramref name="terminalPath"/>. Signal
    /// dispositions the runtime ignores (SIGPIPE) are reset. Returns the pid; reap it with <see cref="WaitForExit"/>.
    /// </summary>
    public static int OnTerminal(string file, IReadOnlyList<string> args, string terminalPath)
    {
        var argv = new List<string> { file };
        argv.AddRange(args);
        var env = new List<string>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            env.Add($"{e.Key}={e.Value}");

        var strings = new List<nint>();
        var actions = NativeMemory.AllocZeroed(OpaqueSize);
        var attr = NativeMemory.AllocZeroed(OpaqueSize);
        var sigs = NativeMemory.AllocZeroed(128); // sigset_t
        var argvArr = (byte**)NativeMemory.AllocZeroed((nuint)((argv.Count + 1) * sizeof(nint)));
        var envArr = (byte**)NativeMemory.AllocZeroed((nuint)((env.Count + 1) * sizeof(nint)));
        var actionsReady = false;
        var attrReady = false;
        try
        {
            for (var i = 0; i < argv.Count; i++) argvArr[i] = Utf8(argv[i], strings);
            for (var i = 0; i < env.Count; i++) envArr[i] = Utf8(env[i], strings);
            var path = Utf8(file, strings);
            var tty = Utf8(terminalPath, strings);

            Check(posix_spawn_file_actions_init(actions), "posix_spawn_file_actions_init", file);
            actionsReady = true;
            // Opened after setsid and without O_NOCTTY: the slave becomes the session's controlling terminal.
            Check(posix_spawn_file_actions_addopen(actions, 0, tty, O_RDWR, 0), "posix_spawn_file_actions_addopen", terminalPath);
            Check(posix_spawn_file_actions_adddup2(actions, 0, 1), "posix_spawn_file_actions_adddup2", terminalPath);
            Check(posix_spawn_file_actions_adddup2(actions, 0, 2), "posix_spawn_file_actions_adddup2", terminalPath);

            Check(posix_spawnattr_init(attr), "posix_spawnattr_init", file);
            attrReady = true;
            Check(posix_spawnattr_setsigmask(attr, sigs), "posix_spawnattr_setsigmask", file); // nothing blocked
            ((ulong*)sigs)[0] = 1UL << (SIGPIPE - 1); // .NET ignores SIGPIPE; the child gets the default back
            Check(posix_spawnattr_setsigdefault(attr, sigs), "posix_spawnattr_setsigdefault", file);
            Check(posix_spawnattr_setflags(attr, (short)(POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)),
                "posix_spawnattr_setflags", file);

            int pid;
            Check(posix_spawn(&pid, path, actions, attr, argvArr, envArr), "posix_spawn", file);
            return pid;
        }
        finally
        {
            if (actionsReady) posix_spawn_file_actions_destroy(actions);
            if (attrReady) posix_spawnattr_destroy(attr);
            foreach (var s in strings) NativeMemory.Free((void*)s);
            NativeMemory.Free(argvArr);
            NativeMemory.Free(envArr);
            NativeMemory.Free(sigs);
            NativeMemory.Free(attr);
            NativeMemory.Free(actions);
        }
    }

    /// <summary>Blocks until the child <paramref name="pid"/> exits and reaps it: its exit code, or 128 + signal.</summary>
    public static int WaitForExit(int pid)
    {
        int status;
        while (true)
        {
            var r = waitpid(pid, &status, 0);
            if (r == pid) break;
            var e = Marshal.GetLastPInvokeError();
            if (r < 0 && e == EINTR) continue;
            throw new LinuxException("waitpid", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), e);
        }
        var sig = status & 0x7f;
        return sig == 0 ? (status >> 8) & 0xff : 128 + sig;
    }

    static void Check(int result, string op, string target)
    {
        // posix_spawn* return the error number instead of setting errno.
        if (result != 0) throw new LinuxException(op, target, result);
    }

    static byte* Utf8(string s, List<nint> owned)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        var p = (byte*)NativeMemory.Alloc((nuint)bytes.Length + 1);
        bytes.CopyTo(new Span<byte>(p, bytes.Length));
        p[bytes.Length] = 0;
        owned.Add((nint)p);
        return p;
    }
}
