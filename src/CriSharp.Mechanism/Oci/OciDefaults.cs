namespace CriSharp.Mechanism.Oci;

/// <summary>Constants of the OCI runtime spec as CriSharp writes it, shared by spec generation and the CDI editor.</summary>
public static class OciDefaults
{
    /// <summary>runc 1.1 reports 1.0.2-dev as the newest spec it knows; everything written here is in 1.0.2.</summary>
    public const string OciVersion = "1.0.2-dev";

    /// <summary>
    /// Open-file limit (soft and hard) for container processes: the kernel's default nr_open, which is what
    /// containerd and CRI-O containers usually end up with. Capped at the daemon's own hard limit, since a
    /// runtime without CAP_SYS_RESOURCE cannot raise it (setrlimit fails with EPERM).
    /// </summary>
    public const ulong DefaultNofile = 1048576;

    /// <summary>Every capability Linux defines, indexed by its number (CAP_CHOWN = 0 … CAP_CHECKPOINT_RESTORE = 40).</summary>
    public static readonly IReadOnlyList<string> AllCapabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
        "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ];
}
