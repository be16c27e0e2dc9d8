using CriSharp.Linux;

namespace CriSharp.Runtime.Tests.Linux;

/// <summary>RootedPath.Resolve: what a rootfs or an image's symlinks point to is looked up inside it, never outside.</summary>
public sealed class RootedPathTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("crisharp-rooted-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    string Link(string path, string target)
    {
        var full = Path.Combine(_root, path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.CreateSymbolicLink(full, target);
        return full;
    }

    [Fact]
    public void Dotdot_stops_at_the_root_in_the_path_and_in_link_targets()
    {
        Link("a/up", "../../../../x");
        Assert.Equal(Path.Join(_root, "x"), RootedPath.Resolve(_root, "a/up"));
        Assert.Equal(Path.Join(_root, "etc"), RootedPath.Resolve(_root, "../../../etc"));
    }

    [Fact]
    public void Absolute_targets_restart_at_the_root()
    {
        Link("a/abs", "/etc");
        Assert.Equal(Path.Join(_root, "etc/passwd"), RootedPath.Resolve(_root, "/a/abs/passwd"));
    }

    [Fact]
    public void Chains_of_links_are_followed_and_plain_paths_are_kept()
    {
        Directory.CreateDirectory(Path.Combine(_root, "real/dir"));
        Link("one", "two");
        Link("two", "real/dir");
        Assert.Equal(Path.Join(_root, "real/dir/file"), RootedPath.Resolve(_root, "one/file"));
        Assert.Equal(Path.Join(_root, "real/dir"), RootedPath.Resolve(_root, "./real//dir/"));
    }

    [Fact]
    public void A_link_loop_fails_instead_of_spinning()
    {
        Link("a/loop", "loop");
        Assert.Throws<IOException>(() => RootedPath.Resolve(_root, "a/loop"));
    }
}
