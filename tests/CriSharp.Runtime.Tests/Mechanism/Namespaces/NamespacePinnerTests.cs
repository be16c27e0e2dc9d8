using CriSharp.Linux;
using CriSharp.Mechanism.Namespaces;
using CriSharp.Mechanism.Processes;
using CriSharp.Runtime.Pods;
using CriSharp.Runtime.Tests.Linux;

namespace CriSharp.Runtime.Tests.Mechanism.Namespaces;

public class NamespacePinnerTests
{
    static async Task<string> Nsenter(string nsFlag, params string[] cmd)
    {
        var r = await ProcessRunner.RunAsync("nsenter", [nsFlag, "--", .. cmd], TimeSpan.FromSeconds(20), CancellationToken.None);
        r.ThrowIfFailed("nsenter");
        return r.Stdout;
    }

    static void AssertNothingMountedUnder(string dir) =>
        Assert.DoesNotContain(Mounts.ReadMountInfo(), m => m.MountPoint == dir || m.MountPoint.StartsWith(dir + "/", StringComparison.Ordinal));

    [Fact]
    public async Task PinsNamespacesAndReleasesThem()
    {
        using var t = new TempDir();
        var dir = Path.Combine(t.Path, "ns");
        var pinner = new NamespacePinner();
        try
        {
            var pinned = await pinner.PinAsync(dir, net: true, ipc: true, uts: true, "pod-host-1",
                new Dictionary<string, string> { ["net.ipv4.ip_forward"] = "1", ["kernel.shm_rmid_forced"] = "1", ["net/ipv4/ip_unprivileged_port_start"] = "80" });
            Assert.Equal(Path.Combine(dir, "net"), pinned.NetPath);
            Assert.Equal(Path.Combine(dir, "ipc"), pinned.IpcPath);
            Assert.Equal(Path.Combine(dir, "uts"), pinned.UtsPath);
            Assert.True(Mounts.IsMountPoint(pinned.NetPath!));
            Assert.Equal("nsfs", Mounts.FindMount(pinned.NetPath!)!.FsType);
            Assert.Null(Mounts.FindMount(dir)!.SharedGroup);

            var links = (await Nsenter("--net=" + pinned.NetPath, "ip", "-o", "link")).Trim().Split('\n');
            Assert.Single(links);
            Assert.Contains(": lo:", links[0]);
            Assert.Contains("UP", links[0]);

            Assert.Equal("pod-host-1", (await Nsenter("--uts=" + pinned.UtsPath, "hostname")).Trim());
            Assert.NotEqual("pod-host-1", Environment.MachineName);
            Assert.Equal("1", (await Nsenter("--net=" + pinned.NetPath, "cat", "/proc/sys/net/ipv4/ip_forward")).Trim());
            Assert.Equal("80", (await Nsenter("--net=" + pinned.NetPath, "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start")).Trim());
            Assert.Equal("1", (await Nsenter("--ipc=" + pinned.IpcPath, "cat", "/proc/sys/kernel/shm_rmid_forced")).Trim());
            Assert.Equal("0", File.ReadAllText("/proc/sys/kernel/shm_rmid_forced").Trim()); // host untouched

            pinner.Release(dir);
            AssertNothingMountedUnder(dir);
            Assert.False(File.Exists(Path.Combine(dir, "net")));
            pinner.Release(dir); // idempotent
        }
        finally
        {
            pinner.Release(dir);
        }
    }

    [Fact]
    public async Task NetworkOnlyLeavesIpcAndUtsUnpinned()
    {
        using var t = new TempDir();
        var dir = Path.Combine(t.Path, "ns");
        var pinner = new NamespacePinner();
        try
        {
            var pinned = await pinner.PinAsync(dir, net: true, ipc: false, uts: false, "", new Dictionary<string, string>());
            Assert.NotNull(pinned.NetPath);
            Assert.Null(pinned.IpcPath);
            Assert.Null(pinned.UtsPath);
            Assert.False(File.Exists(Path.Combine(dir, "ipc")));
        }
        finally
        {
            pinner.Release(dir);
        }
        AssertNothingMountedUnder(dir);
    }

    [Fact]
    public async Task KernelRejectedSysctlUndoesEverything()
    {
        using var t = new TempDir();
        var dir = Path.Combine(t.Path, "ns");
        var pinner = new NamespacePinner();
        try
        {
            var e = await Assert.ThrowsAsync<ExternalProgramException>(() => pinner.PinAsync(dir, true, true, true, "h",
                new Dictionary<string, string> { ["kernel.shm_rmid_forced"] = "notanumber" }));
            Assert.Contains("shm_rmid_forced", e.Message);
            AssertNothingMountedUnder(dir);
            Assert.False(File.Exists(Path.Combine(dir, "net")));
        }
        finally
        {
            pinner.Release(dir);
        }
    }

    [Fact]
    public async Task SysctlForHostNamespaceIsRefusedBeforeAnythingHappens()
    {
        using var t = new TempDir();
        var dir = Path.Combine(t.Path, "ns");
        await Assert.ThrowsAsync<SysctlException>(() => new NamespacePinner().PinAsync(dir, net: false, ipc: true, uts: true, "h",
            new Dictionary<string, string> { ["net.ipv4.ip_forward"] = "1" }));
        Assert.False(Directory.Exists(dir));
    }
}
