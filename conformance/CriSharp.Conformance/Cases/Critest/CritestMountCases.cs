using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;
using static CriSharp.Conformance.Cases.CritestContainerSupport;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// critest 1.36.0 "Container Mount Propagation": a host directory bind-mounted onto itself (rprivate or
/// rshared) is mounted into a privileged container with PROPAGATION_PRIVATE, _BIDIRECTIONAL or
/// _HOST_TO_CONTAINER; a mount the host then makes below it must (or must not) show in the container, and a
/// mount the container makes must (or must not) show on the host. Every host mount is detached after the
/// case, also when it fails early.
/// </summary>
[CaseArea("critest Container Mount Propagation")]
public sealed class CritestMountPropagationCases
{
    private const string Context = "runtime should support mount propagation :: ";

    [Case(Context + "mount with 'rprivate' should not support propagation")]
    public Task Private(CaseContext ctx) => TestPropagationAsync(ctx, MountPropagation.PropagationPrivate);

    [Case(Context + "mount with 'rshared' should support propagation from host to container and vice versa")]
    public Task Shared(CaseContext ctx) => TestPropagationAsync(ctx, MountPropagation.PropagationBidirectional);

    [Case(Context + "mount with 'rslave' should support propagation from host to container")]
    public Task Slave(CaseContext ctx) => TestPropagationAsync(ctx, MountPropagation.PropagationHostToContainer);

    private static async Task TestPropagationAsync(CaseContext ctx, MountPropagation propagation)
    {
        var (podId, podConfig) = await PrivilegedPodAsync(ctx);

        // Host side: HOST/mnt (bind-mounted onto itself, rprivate for PRIVATE, else rshared) with an empty
        // mount point mnt/propagationMnt, and HOST/propagationSrcDir holding flagFile.
        var hostPath = HostDirectory(ctx, podId);
        var mntSource = Path.Combine(hostPath, "mnt");
        var propagationMntPoint = Path.Combine(mntSource, "propagationMnt");
        Directory.CreateDirectory(propagationMntPoint, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var propagationSrcDir = Path.Combine(hostPath, "propagationSrcDir");
        Directory.CreateDirectory(propagationSrcDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.Create(Path.Combine(propagationSrcDir, "flagFile")).Dispose();
        Mount(mntSource, mntSource, "bind", MsBind | MsRec);
        Mount("", mntSource, "", (propagation == MountPropagation.PropagationPrivate ? MsPrivate : MsShared) | MsRec);

        // A privileged container (so it may mount) with HOST/mnt at the same path and the propagation under test.
        var config = PauseContainer(ctx, "mount-propagation-test-");
        config.Linux = new LinuxContainerConfig { SecurityContext = new LinuxContainerSecurityContext { Privileged = true } };
        config.Mounts.Add(new Mount { HostPath = mntSource, ContainerPath = mntSource, Propagation = propagation });
        var id = await ctx.CreateCritestContainerAsync(podId, podConfig, config);

        var status = (await ctx.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = id, Verbose = true }, ctx.Options)).Status;
        var mounts = Check.NotNull(status, $"ContainerStatus({id}).status").Mounts;
        Check.Equal(1, mounts.Count, "ContainerStatus mounts");
        Check.Equal(mntSource, mounts[0].ContainerPath, "ContainerStatus mounts[0].container_path");
        Check.Equal(mntSource, mounts[0].HostPath, "ContainerStatus mounts[0].host_path");
        Check.Equal(false, mounts[0].Readonly, "ContainerStatus mounts[0].readonly");
        Check.Equal(false, mounts[0].SelinuxRelabel, "ContainerStatus mounts[0].selinux_relabel");
        Check.Equal(propagation, mounts[0].Propagation, "ContainerStatus mounts[0].propagation");

        await StartRunningAsync(ctx, id);

        // Host to container: mount propagationSrcDir on propagationMntPoint on the host.
        Mount(propagationSrcDir, propagationMntPoint, "bind", MsBind | MsRec);
        var listing = await ExecSyncContainerAsync(ctx, id, "ls", "-A", propagationMntPoint);
        if (propagation == MountPropagation.PropagationPrivate)
        {
            Check.True(listing.Length == 0, $"{propagation}: the host's mount on {propagationMntPoint} shows in the container (ls -A: '{listing.Trim()}')");
        }
        else
        {
            Check.True(listing.Length > 0, $"{propagation}: the host's mount on {propagationMntPoint} does not show in the container (ls -A printed nothing)");
        }

        // Container to host: the container bind-mounts its /etc below the volume.
        var containerMntPoint = Path.Combine(mntSource, "containerMntPoint");
        await ExecSyncContainerAsync(ctx, id, "sh", "-c", "mkdir -p " + containerMntPoint);
        await ExecSyncContainerAsync(ctx, id, "sh", "-c", "mount --bind /etc " + containerMntPoint);
        var onHost = Directory.EnumerateFileSystemEntries(containerMntPoint).Count();
        if (propagation == MountPropagation.PropagationBidirectional)
        {
            Check.True(onHost > 0, $"{propagation}: the container's mount on {containerMntPoint} does not show on the host (the directory is empty)");
        }
        else
        {
            Check.True(onHost == 0, $"{propagation}: the container's mount on {containerMntPoint} shows on the host ({onHost} entries)");
        }
    }
}

/// <summary>
/// critest 1.36.0 "Container Mount Readonly": a host directory with a tmpfs mounted below it, mounted read-only
/// at /mnt: without recursive_read_only the tmpfs stays writable, with it the tmpfs is read-only too; and
/// recursive_read_only with a propagation other than private, or without readonly, is rejected. The
/// recursive cases need the default handler to advertise features.recursive_read_only_mounts in Status;
/// critest skips them otherwise, here they fail.
/// </summary>
[CaseArea("critest Container Mount Readonly")]
public sealed class CritestMountReadonlyCases
{
    private const string Context = "runtime should support readonly mounts :: ";

    [Case(Context + "should support non-recursive readonly mounts")]
    public Task NonRecursive(CaseContext ctx) => TestReadOnlyAsync(ctx, recursive: false);

    [Case(Context + "should support recursive readonly mounts")]
    public async Task Recursive(CaseContext ctx)
    {
        await RequireRecursiveReadOnlyAsync(ctx);
        await TestReadOnlyAsync(ctx, recursive: true);
    }

    [Case(Context + "should reject a recursive readonly mount with PROPAGATION_HOST_TO_CONTAINER")]
    public Task RejectHostToContainer(CaseContext ctx) =>
        ExpectRejectedAsync(ctx, readOnly: true, MountPropagation.PropagationHostToContainer);

    [Case(Context + "should reject a recursive readonly mount with PROPAGATION_BIDIRECTIONAL")]
    public Task RejectBidirectional(CaseContext ctx) =>
        ExpectRejectedAsync(ctx, readOnly: true, MountPropagation.PropagationBidirectional);

    [Case(Context + "should reject a recursive readonly mount with ReadOnly: false")]
    public Task RejectNotReadOnly(CaseContext ctx) =>
        ExpectRejectedAsync(ctx, readOnly: false, MountPropagation.PropagationPrivate);

    private static async Task TestReadOnlyAsync(CaseContext ctx, bool recursive)
    {
        var (podId, podConfig) = await PrivilegedPodAsync(ctx);
        var hostPath = HostPathWithTmpfs(ctx, podId);
        var mount = new Mount { HostPath = hostPath, ContainerPath = "/mnt", Readonly = true, RecursiveReadOnly = recursive, SelinuxRelabel = true };
        var config = MountContainer(ctx, mount);
        var id = await ctx.CreateCritestContainerAsync(podId, podConfig, config);
        var status = (await ctx.Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = id, Verbose = true }, ctx.Options)).Status;
        Check.Equal(1, Check.NotNull(status, $"ContainerStatus({id}).status").Mounts.Count, "ContainerStatus mounts");

        await StartRunningAsync(ctx, id);
        if (recursive)
        {
            await ExecSyncContainerAsync(ctx, id, "sh", "-c", "touch /mnt/tmpfs/foo 2>&1 | grep -q \"Read-only file system\"");
        }
        else
        {
            await ExecSyncContainerAsync(ctx, id, "touch", "/mnt/tmpfs/file");
        }
    }

    private static async Task ExpectRejectedAsync(CaseContext ctx, bool readOnly, MountPropagation propagation)
    {
        await RequireRecursiveReadOnlyAsync(ctx);
        var (podId, podConfig) = await PrivilegedPodAsync(ctx);
        var hostPath = HostPathWithTmpfs(ctx, podId);
        var mount = new Mount
        {
            HostPath = hostPath, ContainerPath = "/mnt", Readonly = readOnly, RecursiveReadOnly = true, SelinuxRelabel = true, Propagation = propagation,
        };
        var (id, error) = await ctx.TryCreateContainerAsync(podId, podConfig, MountContainer(ctx, mount));
        Check.True(error is not null,
            $"CreateContainer with a recursive_read_only mount (readonly {readOnly}, propagation {propagation}) succeeded (container {id}); it must be rejected");
    }

    /// <summary>critest's RRO host directory: a temp dir with a tmpfs mounted on its subdirectory <c>tmpfs</c>.</summary>
    private static string HostPathWithTmpfs(CaseContext ctx, string podId)
    {
        var hostPath = HostDirectory(ctx, podId);
        var tmpfs = Path.Combine(hostPath, "tmpfs");
        Directory.CreateDirectory(tmpfs, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Mount("none", tmpfs, "tmpfs", 0);
        return hostPath;
    }

    /// <summary>critest's <c>test-mount-UUID</c> container: busybox running <c>sh -c top</c> with the mount, no Linux config.</summary>
    private static ContainerConfig MountContainer(CaseContext ctx, Mount mount)
    {
        var config = PauseContainer(ctx, "test-mount-");
        config.Linux = null;
        config.Mounts.Add(mount);
        return config;
    }
}
