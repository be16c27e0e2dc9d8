using CriSharp.Linux;

namespace CriSharp.Runtime.Tests.Linux;

public class MountsTests
{
    [Fact]
    public void BindReadOnlyAndUnmount()
    {
        using var t = new TempDir();
        var src = t.Sub("src");
        var dst = t.Sub("dst");
        File.WriteAllText(Path.Combine(src, "f"), "hello");

        Mounts.Bind(src, dst, readOnly: true);
        try
        {
            Assert.True(Mounts.IsMountPoint(dst));
            Assert.Equal("hello", File.ReadAllText(Path.Combine(dst, "f")));
            Assert.ThrowsAny<IOException>(() => File.WriteAllText(Path.Combine(dst, "g"), "x"));
            var info = Mounts.FindMount(dst)!;
            Assert.Contains("ro", info.MountOptions.Split(','));
        }
        finally
        {
            Assert.True(Mounts.Unmount(dst));
        }
        Assert.False(Mounts.IsMountPoint(dst));
        Assert.False(Mounts.Unmount(dst));                       // EINVAL: not mounted
        Assert.False(Mounts.Unmount(Path.Combine(t.Path, "nope"))); // ENOENT
    }

    [Fact]
    public void PropagationChanges()
    {
        using var t = new TempDir();
        var d = t.Sub("p");
        Mounts.Bind(d, d);
        try
        {
            Mounts.MakeShared(d);
            Assert.NotNull(Mounts.FindMount(d)!.SharedGroup);
            Mounts.MakePrivate(d);
            Assert.Null(Mounts.FindMount(d)!.SharedGroup);
        }
        finally
        {
            Mounts.Unmount(d);
        }
    }

    [Fact]
    public void TmpfsWithSizeAndMode()
    {
        using var t = new TempDir();
        var d = t.Sub("tmp");
        Mounts.MountTmpfs(d, 1024 * 1024, "700", MountFlags.NoSuid | MountFlags.NoDev | MountFlags.NoExec);
        try
        {
            var info = Mounts.FindMount(d)!;
            Assert.Equal("tmpfs", info.FsType);
            Assert.Contains("size=1024k", info.SuperOptions);
            Assert.Contains("mode=700", info.SuperOptions);
            Assert.Contains("noexec", info.MountOptions.Split(','));
        }
        finally
        {
            Mounts.Unmount(d);
        }
    }

    [Fact]
    public void OverlayWithUpper()
    {
        using var t = new TempDir();
        var lower1 = t.Sub("l1");
        var lower2 = t.Sub("l2");
        File.WriteAllText(Path.Combine(lower1, "a"), "top");
        File.WriteAllText(Path.Combine(lower2, "a"), "bottom");
        File.WriteAllText(Path.Combine(lower2, "b"), "b");
        var upper = t.Sub("upper");
        var work = t.Sub("work");
        var merged = t.Sub("merged");

        Mounts.MountOverlay([lower1, lower2], upper, work, merged, readOnly: false);
        try
        {
            Assert.Equal("top", File.ReadAllText(Path.Combine(merged, "a")));
            Assert.Equal("b", File.ReadAllText(Path.Combine(merged, "b")));
            File.WriteAllText(Path.Combine(merged, "c"), "new");
            Assert.True(File.Exists(Path.Combine(upper, "c")));
        }
        finally
        {
            Assert.True(Mounts.Unmount(merged));
        }
    }

    [Fact]
    public void OverlayWithManyLongLowersGoesThroughLinks()
    {
        using var t = new TempDir();
        const int count = 120;
        var lowers = new List<string>();
        for (int i = 0; i < count; i++)
        {
            // ~90-character paths: 120 of them are far over one page of mount data.
            var d = t.Sub($"layer-{i:D3}-" + new string('x', 40));
            File.WriteAllText(Path.Combine(d, $"f{i}"), i.ToString());
            File.WriteAllText(Path.Combine(d, "shared"), i.ToString());
            lowers.Add(d);
        }
        Assert.True(string.Join(':', lowers).Length > Mounts.MaxMountDataBytes);
        var merged = t.Sub("merged");

        var before = Directory.GetDirectories("/tmp", ".ovl*").Length;
        Mounts.MountOverlay(lowers, null, null, merged, readOnly: true);
        Assert.Equal(before, Directory.GetDirectories("/tmp", ".ovl*").Length); // links are gone once mounted
        try
        {
            Assert.Equal("0", File.ReadAllText(Path.Combine(merged, "shared"))); // top first
            Assert.Equal("119", File.ReadAllText(Path.Combine(merged, "f119")));
            Assert.Equal(count + 1, Directory.GetFiles(merged).Length);
        }
        finally
        {
            Assert.True(Mounts.Unmount(merged));
        }
    }

    [Fact]
    public void OverlayOverTheLimitEvenThroughLinksFailsClearly()
    {
        using var t = new TempDir();
        var lowers = Enumerable.Range(0, 600).Select(i => "/nonexistent/" + i).ToList();
        var e = Assert.Throws<ArgumentException>(() => Mounts.MountOverlay(lowers, null, null, t.Sub("m"), readOnly: true));
        Assert.Contains("limit", e.Message);
    }

    [Fact]
    public void UnmountAllUnderDeepestFirst()
    {
        using var t = new TempDir();
        var root = t.Sub("root");
        Mounts.MountTmpfs(root);
        Directory.CreateDirectory(Path.Combine(root, "a", "b"));
        Mounts.MountTmpfs(Path.Combine(root, "a"));
        Directory.CreateDirectory(Path.Combine(root, "a", "b"));
        Mounts.MountTmpfs(Path.Combine(root, "a", "b"));
        Mounts.MountTmpfs(Path.Combine(root, "a", "b")); // stacked
        var busy = File.Open(Path.Combine(root, "a", "b", "held"), FileMode.Create); // EBUSY → lazy
        try
        {
            Assert.Equal(4, Mounts.UnmountAllUnder(root));
        }
        finally
        {
            busy.Dispose();
        }
        Assert.DoesNotContain(Mounts.ReadMountInfo(), m => m.MountPoint.StartsWith(t.Path, StringComparison.Ordinal));
        Assert.Equal(0, Mounts.UnmountAllUnder(root));
    }
}
