using System.Runtime.InteropServices;
using System.Text.Json;
using CriSharp.Model;


namespace CriSharp.Mechanism.Oci;

/// <summary>
/// The seccomp filters CriSharp writes: its RuntimeDefault profile (an allowlist in the spirit of
/// moby's/containerd's default, written here) and Localhost profiles loaded from disk.
/// </summary>
public static class SeccompProfiles
{
    /// <summary>errno for refused syscalls: EPERM, which programs treat as "not allowed" rather than "missing".</summary>
    public const uint DefaultErrno = 1;
    const uint Enosys = 38;

    // Syscalls any ordinary program may make. Names unknown on an architecture are skipped by runc and crun
    // (libseccomp cannot resolve them), so one list serves all. Deliberately absent: kernel-global or
    // non-namespaced facilities (kexec_*, *_module, reboot, swapon/off, acct, keyctl/add_key/request_key,
    // userfaultfd, io_uring_*, bpf, perf_event_open, pivot_root, mount & co., clock/time setters, vm86,
    // lookup_dcookie, open_by_handle_at, nfsservctl, _sysctl, uselib, quotactl), unless a capability below allows them.
    static readonly string[] Allowed =
    [
        "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset", "chdir",
        "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
        "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
        "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
        "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
        "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
        "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
        "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
        "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex",
        "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd",
        "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
        "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
        "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
        "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid",
        "getuid32", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
        "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get",
        "ioprio_set", "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
        "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr",
        "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "membarrier",
        "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2",
        "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
        "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget",
        "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep",
        "newfstatat", "_newselect", "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe",
        "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64",
        "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev",
        "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg",
        "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat", "renameat2",
        "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
        "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
        "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
        "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
        "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl",
        "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg",
        "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups",
        "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32",
        "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
        "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "shmat", "shmctl",
        "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socket",
        "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink",
        "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
        "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
        "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
        "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime",
        "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
        "writev",
        // ptrace cannot bypass seccomp since Linux 4.8, so tracing one's own children is safe to allow.
        "ptrace", "process_vm_readv", "process_vm_writev",
        // Architecture-specific helpers.
        "arch_prctl", "modify_ldt", "arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
        "cacheflush", "set_tls", "riscv_flush_icache",
    ];

    // Syscalls a capability unlocks: a container granted the capability may use what it guards.
    static readonly (string Capability, string[] Syscalls)[] AllowedWithCapability =
    [
        ("CAP_SYS_ADMIN", ["bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
            "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open", "pivot_root",
            "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare"]),
        ("CAP_SYS_BOOT", ["reboot"]),
        ("CAP_SYS_CHROOT", ["chroot"]),
        ("CAP_SYS_MODULE", ["delete_module", "init_module", "finit_module"]),
        ("CAP_SYS_PACCT", ["acct"]),
        ("CAP_SYS_PTRACE", ["kcmp", "pidfd_getfd", "process_madvise"]),
        ("CAP_SYS_RAWIO", ["iopl", "ioperm"]),
        ("CAP_SYS_TIME", ["settimeofday", "stime", "clock_settime", "clock_settime64"]),
        ("CAP_SYS_TTY_CONFIG", ["vhangup"]),
        ("CAP_SYS_NICE", ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
        ("CAP_SYSLOG", ["syslog"]),
        ("CAP_BPF", ["bpf"]),
        ("CAP_PERFMON", ["perf_event_open"]),
        ("CAP_DAC_READ_SEARCH", ["open_by_handle_at"]),
    ];

    // clone(2) flags that create namespaces: CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET.
    const ulong CloneNamespaceFlags = 0x7E020000;

    /// <summary>
    /// The RuntimeDefault filter for a container whose bounding set is <paramref name="capabilities"/>:
    /// everything not listed fails with EPERM.
    /// </summary>
    public static OciSeccomp RuntimeDefault(IReadOnlyCollection<string> capabilities)
    {
        var allowed = new List<string>(Allowed);
        foreach (var (cap, calls) in AllowedWithCapability)
            if (capabilities.Contains(cap))
                allowed.AddRange(calls.Where(c => !allowed.Contains(c)));

        var syscalls = new List<OciSyscall> { new() { Names = allowed, Action = "SCMP_ACT_ALLOW" } };
        // Only the personalities programs really use (native, 32-bit, UNAME26, and the query value).
        syscalls.Add(new OciSyscall
        {
            Names = ["personality"],
            Action = "SCMP_ACT_ALLOW",
            Args = [new() { Index = 0, Value = 0x0, Op = "SCMP_CMP_EQ" }],
        });
        foreach (var persona in new ulong[] { 0x8, 0x20000, 0x20008, 0xFFFFFFFF })
            syscalls.Add(new OciSyscall
            {
                Names = ["personality"],
                Action = "SCMP_ACT_ALLOW",
                Args = [new() { Index = 0, Value = persona, Op = "SCMP_CMP_EQ" }],
            });

        if (!capabilities.Contains("CAP_SYS_ADMIN"))
        {
            // Threads and fork are fine; new namespaces need CAP_SYS_ADMIN. clone's flags are argument 0
            // on the architectures CriSharp runs on (s390 would need index 1).
            syscalls.Add(new OciSyscall
            {
                Names = ["clone"],
                Action = "SCMP_ACT_ALLOW",
                Args = [new() { Index = 0, Value = CloneNamespaceFlags, ValueTwo = 0, Op = "SCMP_CMP_MASKED_EQ" }],
            });
            // clone3 passes flags in memory seccomp cannot read; ENOSYS makes libcs fall back to clone.
            syscalls.Add(new OciSyscall { Names = ["clone3"], Action = "SCMP_ACT_ERRNO", ErrnoRet = Enosys });
        }

        return new OciSeccomp
        {
            DefaultAction = "SCMP_ACT_ERRNO",
            DefaultErrnoRet = DefaultErrno,
            Architectures = NativeArchitectures(),
            Syscalls = syscalls,
        };
    }

    /// <summary>Loads an OCI-format seccomp profile (at least "defaultAction"); throws <see cref="SpecException"/> naming the file.</summary>
    public static OciSeccomp LoadLocalhost(string path, string field)
    {
        if (!Path.IsPathRooted(path))
            throw new SpecException(field, $"seccomp profile path \"{path}\" is not absolute");
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SpecException(field, $"cannot read seccomp profile \"{path}\": {e.Message}");
        }
        OciSeccomp? profile;
        try
        {
            profile = JsonSerializer.Deserialize(bytes, OciJsonContext.Default.OciSeccomp);
        }
        catch (JsonException e)
        {
            throw new SpecException(field, $"seccomp profile \"{path}\" is not valid JSON: {e.Message}");
        }
        if (profile is null || string.IsNullOrEmpty(profile.DefaultAction))
            throw new SpecException(field, $"seccomp profile \"{path}\" has no defaultAction");
        return profile;
    }

    /// <summary>The host architecture plus the compat ABIs its kernel can run, in libseccomp names.</summary>
    static List<string> NativeArchitectures() => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 => ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        Architecture.Arm64 => ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
        Architecture.Arm => ["SCMP_ARCH_ARM"],
        Architecture.X86 => ["SCMP_ARCH_X86"],
        Architecture.S390x => ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
        Architecture.Ppc64le => ["SCMP_ARCH_PPC64LE"],
        Architecture.RiscV64 => ["SCMP_ARCH_RISCV64"],
        _ => [],
    };
}
