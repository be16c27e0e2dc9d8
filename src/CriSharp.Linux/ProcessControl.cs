using Tmds.Linux;

namespace CriSharp.Linux;

/// <summary>Per-process settings .NET does not expose.</summary>
public static class ProcessControl
{
    /// <summary>Sets the file-creation mask and returns the previous one (e.g. so a socket is born 0660).</summary>
    public static int SetUmask(int mask) => (int)LibC.umask((mode_t)mask);

    /// <summary>Sends <paramref name="signal"/> (e.g. 15 for SIGTERM) to a process; false if it no longer exists.</summary>
    public static bool Signal(int pid, int signal)
    {
        if (LibC.kill(pid, signal) == 0) return true;
        var errno = LibC.errno;
        if (errno == LibC.ESRCH) return false;
        throw new LinuxException("kill", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), errno);
    }

    public const int SIGHUP = 1, SIGINT = 2, SIGKILL = 9, SIGTERM = 15, SIGWINCH = 28;
}
