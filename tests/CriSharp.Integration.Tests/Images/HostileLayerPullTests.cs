using System.Formats.Tar;
using CriSharp.Linux;
using CriSharp.TestSupport;
using Grpc.Core;
using static CriSharp.Integration.Tests.Images.ImageTests;

namespace CriSharp.Integration.Tests.Images;

/// <summary>
/// Layers whose entries try to write outside the layer directory, pushed to the real registry and
/// pulled through the daemon: the pull is refused naming the entry, and nothing is left or written anywhere.
/// </summary>
public sealed class HostileLayerPullTests(HostileLayerPullTests.Fixture fixture) : IClassFixture<HostileLayerPullTests.Fixture>
{
    public sealed class Fixture : IAsyncLifetime
    {
        /// <summary>Unique per run, so a sentinel found on disk was written by this run.</summary>
        public string Token { get; } = Guid.NewGuid().ToString("N")[..12];
        public RegistryFixture Registry { get; private set; } = null!;
        /// <summary>A file a hostile hardlink points at; its content must never change.</summary>
        public string HardlinkTarget => $"/tmp/crisharp-evil-{Token}-target";

        public string Sentinel(string kind) => $"/tmp/crisharp-evil-{Token}-{kind}";

        /// <summary>Case name → the layer's entries (a harmless file first, so the unpacker has begun) and the entry refused.</summary>
        public Dictionary<string, (TarEntry[] Entries, string Refused)> Cases() => new()
        {
            ["traversal"] = ([RawFile("ok", "ok\n"), RawFile("../evil", "evil\n")], "../evil"),
            ["deep-traversal"] = ([RawFile("ok", "ok\n"), RawFile("../../../../../../../../../.." + Sentinel("traversal"), "evil\n")],
                "../../../../../../../../../.." + Sentinel("traversal")),
            ["absolute"] = ([RawFile("ok", "ok\n"), RawFile(Sentinel("absolute"), "evil\n")], Sentinel("absolute")),
            ["symlink"] = ([RawFile("ok", "ok\n"), RawLink(TarEntryType.SymbolicLink, "link", "/"), RawFile("link" + Sentinel("symlink"), "evil\n")],
                "link" + Sentinel("symlink")),
            ["hardlink"] = ([RawFile("ok", "ok\n"), RawLink(TarEntryType.HardLink, "passwd", "/etc/passwd")], "passwd"),
            // A hardlink out of the layer followed by a write to it would overwrite the target in place.
            ["hardlink-write"] = ([RawFile("ok", "ok\n"), RawLink(TarEntryType.HardLink, "hl", HardlinkTarget), RawFile("hl", "pwned\n")], "hl"),
        };

        public async Task InitializeAsync()
        {
            File.WriteAllText(HardlinkTarget, "original\n");
            Registry = await RegistryFixture.Anonymous();
            foreach (var (name, (entries, _)) in Cases())
                await ImageTests.PushAsync(Registry, "hostile-" + name, OciImage.Create([RawLayer(entries)], new ImageConfig { Cmd = ["sh"] }));
        }

        public async Task DisposeAsync()
        {
            await Registry.DisposeAsync();
            File.Delete(HardlinkTarget);
        }
    }

    [Theory]
    [InlineData("traversal")]
    [InlineData("deep-traversal")]
    [InlineData("absolute")]
    [InlineData("symlink")]
    [InlineData("hardlink")]
    [InlineData("hardlink-write")]
    public async Task Hostile_layer_is_refused_naming_the_entry_and_leaves_nothing(string kind)
    {
        var refused = fixture.Cases()[kind].Refused;
        var passwdBefore = FileMetadata.Lstat("/etc/passwd");
        var passwdText = File.ReadAllText("/etc/passwd");
        using var d = await ImageDaemon.StartAsync();

        var e = await d.PullFailsAsync($"{fixture.Registry.Host}/crisharp-test/hostile-{kind}:latest");

        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains($"hostile layer entry '{refused}'", e.Status.Detail);
        Assert.Empty(await d.ListAsync());
        Assert.Empty(d.RecordEntries());
        Assert.Empty(d.LayerEntries()); // no layer, no .tmp-* unpack dir, no "evil" next to them
        Assert.False(File.Exists(Path.Combine(d.Root, "evil")));
        foreach (var sentinel in new[] { "traversal", "absolute", "symlink" })
            Assert.False(File.Exists(fixture.Sentinel(sentinel)), fixture.Sentinel(sentinel));
        Assert.Equal("original\n", File.ReadAllText(fixture.HardlinkTarget));
        Assert.Equal(1ul, FileMetadata.Lstat(fixture.HardlinkTarget).LinkCount);
        var passwdAfter = FileMetadata.Lstat("/etc/passwd");
        Assert.Equal((passwdBefore.Inode, passwdBefore.LinkCount, passwdBefore.ModificationTime), (passwdAfter.Inode, passwdAfter.LinkCount, passwdAfter.ModificationTime));
        Assert.Equal(passwdText, File.ReadAllText("/etc/passwd"));
    }
}
