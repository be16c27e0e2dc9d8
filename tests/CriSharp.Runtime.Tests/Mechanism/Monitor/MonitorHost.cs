using System.Text;
using System.Text.Json;
using CriSharp.Linux;
using CriSharp.Mechanism.Monitor;
using CriSharp.Mechanism.Oci;
using CriSharp.Mechanism.Processes;

namespace CriSharp.Runtime.Tests.Mechanism.Monitor;

/// <summary>
/// Shared host setup for the conmon/runc/crun tests: checks that the tools are there and that we are root, and on a
/// hybrid cgroup host moves controllers still attached to the v2 hierarchy (hugetlb here) to v1 mounts, which crun
/// 1.8 insists on ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2").
/// A missing prerequisite throws here, so every test using this fixture fails with that message.
/// </summary>
public sealed class MonitorHost : IDisposable
{
    public const string Conmon = "/usr/bin/conmon";
    public static readonly IReadOnlyDictionary<string, string> Runtimes = new Dictionary<string, string>
    {
        ["runc"] = "/usr/sbin/runc",
        ["crun"] = "/usr/bin/crun",
    };

    /// <summary>Controllers this setup had to move off the v2 hierarchy (empty when none was needed).</summary>
    public IReadOnlyList<string> MovedControllers { get; } = [];

    public string Root { get; }
    public string ExitDir { get; }
    public string AttachDir { get; }

    public MonitorHost()
    {
        var tag = Guid.NewGuid().ToString("N")[..8];
        Root = Path.Combine(Path.GetTempPath(), "crisharp-monitor-" + tag);
        ExitDir = Path.Combine(Root, "exits");
        // Short on purpose: the attach socket path must fit in sun_path (108 bytes).
        AttachDir = "/run/cst-" + tag;
        if (!Environment.IsPrivilegedProcess)
            throw new InvalidOperationException("the conmon/runc/crun tests need root: run make test as root");
        foreach (var bin in Runtimes.Values.Append(Conmon).Append("/bin/busybox"))
            if (!File.Exists(bin)) throw new InvalidOperationException($"{bin} is missing (hack/install-deps.sh installs it)");
        Directory.CreateDirectory(ExitDir);
        Directory.CreateDirectory(AttachDir);
        MovedControllers = MoveHybridControllersToV1();
    }

    static IReadOnlyList<string> MoveHybridControllersToV1()
    {
        const string unified = "/sys/fs/cgroup/unified/cgroup.controllers";
        if (!File.Exists(unified)) return [];
        var moved = new List<string>();
        foreach (var controller in File.ReadAllText(unified).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var dir = "/sys/fs/cgroup/" + controller;
            Directory.CreateDirectory(dir);
            ProcessRunner.RunAsync("/bin/mount", ["-t", "cgroup", "-o", controller, "cgroup", dir], TimeSpan.FromSeconds(10), default)
                .GetAwaiter().GetResult().ThrowIfFailed($"mount the {controller} cgroup v1 hierarchy for crun");
            moved.Add(controller);
        }
        return moved;
    }

    public OciRuntime Runtime(string handler) =>
        new(handler, Runtimes[handler], Path.Combine(Root, "state-" + handler), TimeSpan.FromSeconds(30));

    public ConmonMonitor Monitor() => new(Conmon, ExitDir, AttachDir, TimeSpan.FromSeconds(30));

    /// <summary>A bundle with busybox as its whole rootfs and a hand-written config.json running <paramref name="args"/>.</summary>
    public string MakeBundle(string id, params string[] args)
    {
        var bundle = Path.Combine(Root, "bundles", id);
        var rootfs = Path.Combine(bundle, "rootfs");
        foreach (var d in new[] { "bin", "proc", "dev", "sys", "tmp" }) Directory.CreateDirectory(Path.Combine(rootfs, d));
        File.Copy("/bin/busybox", Path.Combine(rootfs, "bin", "busybox"));
        var argsJson = string.Join(",", args.Select(a => "\"" + JsonEncodedText.Encode(a) + "\""));
        var config = $$"""
        {
          "ociVersion": "1.0.2",
          "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": [{{argsJson}}],
            "env": ["PATH=/bin"],
            "cwd": "/",
            "noNewPrivileges": true
          },
          "root": { "path": "rootfs", "readonly": false },
          "hostname": "t",
          "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] }
          ],
          "linux": {
            "cgroupsPath": "/crisharp-test-{{id}}",
            "namespaces": [ { "type": "pid" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" } ]
          }
        }
        """;
        File.WriteAllText(Path.Combine(bundle, "config.json"), config, new UTF8Encoding(false));
        return bundle;
    }

    /// <summary>Removes every trace of one test container: runtime state, conmon, cgroups, exit file.</summary>
    public async Task CleanupAsync(OciRuntime runtime, string id, string bundle)
    {
        try { await runtime.DeleteAsync(id, force: true); } catch (Exception) { /* best effort */ }
        if (ConmonMonitor.ReadConmonPid(bundle) is { } conmonPid && IsAlive(conmonPid))
            ProcessControl.Signal(conmonPid, ProcessControl.SIGKILL);
        foreach (var hierarchy in Directory.EnumerateDirectories("/sys/fs/cgroup"))
        {
            var dir = Path.Combine(hierarchy, "crisharp-test-" + id);
            for (var i = 0; i < 20 && Directory.Exists(dir); i++)
            {
                try { Directory.Delete(dir); } catch (IOException) { await Task.Delay(50); }
            }
        }
        File.Delete(Path.Combine(ExitDir, id));
    }

    public static bool IsAlive(int pid) => pid > 0 && Directory.Exists("/proc/" + pid);

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
        try { Directory.Delete(AttachDir, recursive: true); } catch (IOException) { }
    }
}
