using Tmds.Linux;

namespace CriSharp.Linux;

/// <summary>Per-process settings .NET does not expose.</summary>
public static class ProcessControl
{
    /// <summary>Sets the file-creation mask and returns the previous one (e.g. so a socket is born 0660).</summary>
    public static int SetUmask(int mask) => (int)LibC.umask((mode_t)mask);
}
