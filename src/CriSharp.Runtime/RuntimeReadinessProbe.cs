using CriSharp.Configuration;
using CriSharp.Model;

namespace CriSharp.Runtime;

/// <summary>Decides RuntimeReady: the default OCI runtime and the monitor must be runnable binaries.</summary>
public sealed class RuntimeReadinessProbe(LiveConfig config)
{
    public const string NotReadyReason = "RuntimeNotReady";

    public Readiness Check()
    {
        var c = config.Current;
        var handler = c.Runtimes[c.DefaultRuntime];
        if (!IsExecutable(handler.Path))
            return new(false, NotReadyReason, $"default runtime '{c.DefaultRuntime}': {handler.Path} is not an executable file");
        if (!IsExecutable(c.MonitorPath))
            return new(false, NotReadyReason, $"monitor {c.MonitorPath} is not an executable file");
        // Ready (the default handler works), but say which other handlers cannot be used now, and why.
        var missing = c.Runtimes.Where(r => r.Key != c.DefaultRuntime && !IsExecutable(r.Value.Path))
            .Select(r => $"runtime handler '{r.Key}': {r.Value.Path} is not an executable file").ToList();
        return missing.Count == 0 ? Readiness.Yes : new(true, "", string.Join("; ", missing));
    }

    static bool IsExecutable(string path)
    {
        try
        {
            if (!File.Exists(path)) return false;
            var mode = File.GetUnixFileMode(path);
            return (mode & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
