using CriSharp.Api.V1;
using CriSharp.Linux;
using Grpc.Core;

namespace CriSharp.Integration.Tests.Pods;

/// <summary>Image volumes (Mount.image, KEP-4639) through the daemon, on both handlers.</summary>
public sealed partial class ContainerSpecTests
{
    List<string> MountsUnder(string dir) =>
        [.. Mounts.ReadMountInfo().Select(m => m.MountPoint).Where(p => p == dir || p.StartsWith(dir + "/", StringComparison.Ordinal))];

    string ContainersStateDir => Path.Combine(f.Daemon.Dir, "state", "containers");

    static Mount ImageMount(string containerPath, string image, string subPath = "") =>
        new() { ContainerPath = containerPath, Image = new ImageSpec { Image = image }, ImageSubPath = subPath, Readonly = true };

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task An_image_volume_is_read_only_stays_inside_its_image_and_keeps_the_image_until_the_container_goes(string handler)
    {
        var images = new ImageService.ImageServiceClient(f.Daemon.Channel());
        var volumeImage = new ImageSpec { Image = f.VolumeImage };
        await images.PullImageAsync(new PullImageRequest { Image = volumeImage });
        var pod = await RunPod("imgvol", handler);
        try
        {
            var c = Sh("imgvol", """
                echo hello=$(cat /img/data/hello.txt)
                test -x /img/bin/busybox && echo img-bin-ok
                test -f /sub/busybox && echo sub-ok
                echo up=$(ls /up | tr '\n' ' ')
                touch /img/x 2>&1 || echo img-write-failed
                touch /sub/x 2>&1 || echo sub-write-failed
                sleep 3600
                """);
            // Two layers at /img; busybox's single layer at /sub (its bin directory); data/up is a symlink to
            // ../../.. which must resolve to the image's own root, never the host's.
            c.Mounts.Add(ImageMount("/img", f.VolumeImage));
            c.Mounts.Add(ImageMount("/sub", f.Busybox, "bin"));
            c.Mounts.Add(ImageMount("/up", f.VolumeImage, "data/up"));
            var id = await CreateAndStart(pod, c);
            var output = await WaitForLog(id, l => l.Any(x => x.Contains("sub-write-failed")));
            Assert.Equal("hello from the image volume", Field(output, "hello="));
            Assert.Contains("img-bin-ok", output);
            Assert.Contains("sub-ok", output);
            // The image's root (its own data directory and busybox's bin), not the host's.
            var up = Field(output, "up=").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains("data", up);
            Assert.Contains("bin", up);
            Assert.False(Directory.Exists("/data/up"), "the host has no /data/up: the listing above cannot be the host's");
            Assert.Contains("img-write-failed", output);
            Assert.Contains(output, l => l.Contains("/img/x") && l.Contains("Read-only file system"));
            Assert.Contains(output, l => l.Contains("/sub/x") && l.Contains("Read-only file system"));

            var status = await Status(id);
            var img = status.Mounts.Single(m => m.ContainerPath == "/img");
            Assert.Equal(f.VolumeImage, img.Image?.Image);
            Assert.Equal("", img.HostPath);
            Assert.True(img.Readonly);
            var sub = status.Mounts.Single(m => m.ContainerPath == "/sub");
            Assert.Equal(f.Busybox, sub.Image?.Image);
            Assert.Equal("bin", sub.ImageSubPath);

            var volumes = Path.Combine(ContainersStateDir, id, "volumes");
            Assert.Equal(3, MountsUnder(volumes).Count);
            // Nothing of it shows on the host outside the container's own bundle.
            Assert.False(File.Exists(Path.Combine(volumes, "0", "x")));

            async Task RemovalRefused()
            {
                var refused = await Assert.ThrowsAsync<RpcException>(() => images.RemoveImageAsync(new RemoveImageRequest { Image = volumeImage }).ResponseAsync);
                Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
                Assert.Contains(id, refused.Status.Detail);
                Assert.NotNull((await images.ImageStatusAsync(new ImageStatusRequest { Image = volumeImage })).Image);
            }
            await RemovalRefused();

            await Rt.StopContainerAsync(new StopContainerRequest { ContainerId = id, Timeout = 0 });
            Assert.Empty(MountsUnder(volumes));
            // Stopped is not gone: kubelet may still read its status and logs, and the image stays with it.
            await RemovalRefused();

            await Rt.RemoveContainerAsync(new RemoveContainerRequest { ContainerId = id });
            Assert.Empty(MountsUnder(Path.Combine(ContainersStateDir, id)));
            Assert.False(Directory.Exists(Path.Combine(ContainersStateDir, id)));
            await images.RemoveImageAsync(new RemoveImageRequest { Image = volumeImage });
            Assert.Null((await images.ImageStatusAsync(new ImageStatusRequest { Image = volumeImage })).Image);
        }
        finally { await RemovePod(pod); }
    }

    [Fact]
    public async Task Image_volumes_that_cannot_be_made_are_refused_naming_the_field_and_leave_nothing()
    {
        var pod = await RunPod("imgvol-bad", "runc");
        try
        {
            var before = Directory.GetDirectories(ContainersStateDir).ToHashSet();
            foreach (var (mount, code, field) in new (Mount, StatusCode, string)[]
            {
                (ImageMount("/v", "127.0.0.1:1/crisharp-test/never-pulled:latest"), StatusCode.NotFound, "config.mounts[0].image"),
                (ImageMount("/v", f.Busybox, "../etc"), StatusCode.InvalidArgument, "config.mounts[0].image_sub_path"),
                (ImageMount("/v", f.Busybox, "/bin"), StatusCode.InvalidArgument, "config.mounts[0].image_sub_path"),
                (ImageMount("/v", f.Busybox, "no/such/dir"), StatusCode.InvalidArgument, "config.mounts[0].image_sub_path"),
                (new Mount { ContainerPath = "/v", HostPath = "/tmp", Image = new ImageSpec { Image = f.Busybox } }, StatusCode.InvalidArgument, "config.mounts[0].host_path"),
                (new Mount { ContainerPath = "/v", HostPath = "/tmp", ImageSubPath = "bin" }, StatusCode.InvalidArgument, "config.mounts[0].image_sub_path"),
            })
            {
                var c = Sh("imgvol-bad", "true");
                c.Mounts.Add(mount);
                var e = await Assert.ThrowsAsync<RpcException>(() => Rt.CreateContainerAsync(
                    new CreateContainerRequest { PodSandboxId = pod.Id, Config = c, SandboxConfig = pod.Config }).ResponseAsync);
                Assert.Equal(code, e.StatusCode);
                Assert.Contains(field, e.Status.Detail);
            }
            Assert.Empty((await Rt.ListContainersAsync(new ListContainersRequest { Filter = new ContainerFilter { PodSandboxId = pod.Id } })).Containers);
            Assert.Equal(before, Directory.GetDirectories(ContainersStateDir).ToHashSet());
            Assert.DoesNotContain(MountsUnder(ContainersStateDir), p => !before.Any(b => p.StartsWith(b + "/", StringComparison.Ordinal)));
        }
        finally { await RemovePod(pod); }
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task An_image_volume_in_a_pod_with_its_own_user_namespace_shows_the_images_files_owned_by_its_root(string handler)
    {
        var pod = await RunUsernsPod("imgvol-userns", handler, PodUserns(HostBase(handler) + 400000));
        try
        {
            var c = Sh("imgvol-userns", "echo owner=$(stat -c '%u %g' /img/bin/busybox); cat /img/bin/busybox > /dev/null && echo read-ok");
            c.Mounts.Add(ImageMount("/img", f.Busybox));
            var output = (await RunAll(pod, c))["imgvol-userns"].Output;
            // Without the idmapped layers they would show as the overflow id 65534.
            Assert.Equal("0 0", Field(output, "owner="));
            Assert.Contains("read-ok", output);
        }
        finally { await RemovePod(pod); }
    }
}
