using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using CriSharp.Images.Layers;
using CriSharp.Linux;
using ZstdSharp;

namespace CriSharp.Images.Tests.Layers;

public sealed class LayerUnpackerTests : IDisposable
{
    const string OciTar = "application/vnd.oci.image.layer.v1.tar";
    const string OciGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    const string OciZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
    const string DockerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    static readonly DateTimeOffset Mtime = new(2021, 3, 4, 5, 6, 7, TimeSpan.Zero);
    static readonly DateTimeOffset DirMtime = new(2020, 1, 2, 3, 4, 5, TimeSpan.Zero);

    // The sandbox stands in for "everything outside the layer": targets live two levels down in it.
    readonly string _sandbox = Directory.CreateTempSubdirectory("crisharp-layer-test-").FullName;
    readonly string _target;

    public LayerUnpackerTests()
    {
        Directory.CreateDirectory(Path.Combine(_sandbox, "inner"));
        _target = Path.Combine(_sandbox, "inner", "target");
    }

    public void Dispose() => Directory.Delete(_sandbox, recursive: true);

    [Theory]
    [InlineData("plain", OciTar)]
    [InlineData("gzip", OciGzip)]
    [InlineData("gzip", DockerGzip)]
    [InlineData("zstd", OciZstd)]
    [InlineData("zstd", "application/octet-stream")] // unknown type: sniffed
    [InlineData("gzip", OciTar)] // mislabelled: sniffed
    public async Task Unpacks_every_entry_kind_with_its_metadata(string compression, string mediaType)
    {
        var longGnuName = "gnu/" + new string('g', 150) + "/file";
        var longPaxName = "pax/" + new string('p', 150) + "/file";
        var tar = BuildTar(w =>
        {
            w.WriteEntry(Dir("etc/", 0x1ED, 0, 0));
            w.WriteEntry(File("etc/file", "hello", 0x1A4, 1000, 2000,
                ("user.foo", "bar"), ("security.capability", "\u0001\0\0\u0002\0\u0004\0\0\0\0\0\0\0\0\0\0\0\0\0\0")));
            w.WriteEntry(Dir("bin/", 0x1ED, 0, 0));
            w.WriteEntry(File("bin/su", "#!", 0x9ED /* 04755 */, 0, 0));
            w.WriteEntry(Dir("tmp/", 0x3FF /* 01777 */, 0, 0));
            w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "etc/link") { LinkName = "../does/not/exist", Uid = 5, Gid = 6, ModificationTime = Mtime });
            w.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "etc/hard") { LinkName = "etc/file", ModificationTime = Mtime });
            w.WriteEntry(Device(TarEntryType.CharacterDevice, "dev/null", 1, 3, 0x1B6));
            w.WriteEntry(Device(TarEntryType.BlockDevice, "dev/loop0", 7, 0, 0x1B0));
            w.WriteEntry(Device(TarEntryType.Fifo, "run/fifo", 0, 0, 0x180));
            w.WriteEntry(File(longPaxName, "pax", 0x1A4, 0, 0));
            w.WriteEntry(Dir("./opt/", 0x1C0, 7, 8)); // "./" prefixes are normal
        });
        // GNU long names ('L' records) in the same archive as the PAX entries.
        tar = Concat(tar, BuildTar(w =>
        {
            var gnu = new GnuTarEntry(TarEntryType.RegularFile, longGnuName)
            {
                Mode = (UnixFileMode)0x1A4, Uid = 3, Gid = 4, ModificationTime = Mtime,
                DataStream = new MemoryStream("gnu"u8.ToArray()),
            };
            w.WriteEntry(gnu);
        }, TarEntryFormat.Gnu));

        var digest = await LayerUnpacker.UnpackAsync(WriteBlob(tar, compression), mediaType, _target, CancellationToken.None);

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(tar)), digest.Hex);

        var file = Stat("etc/file");
        Assert.Equal((FileKind.Regular, 0x1A4, 1000u, 2000u), (file.Kind, file.Mode, file.Uid, file.Gid));
        Assert.Equal(Mtime.ToUnixTimeSeconds(), file.ModificationTime.Seconds);
        Assert.Equal("hello", System.IO.File.ReadAllText(At("etc/file")));
        Assert.Equal("bar"u8.ToArray(), FileMetadata.Lgetxattr(At("etc/file"), "user.foo"));
        Assert.Equal(new byte[] { 1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
            FileMetadata.Lgetxattr(At("etc/file"), "security.capability"));

        Assert.Equal(0x9ED, Stat("bin/su").Mode);
        Assert.Equal((FileKind.Directory, 0x3FF), (Stat("tmp").Kind, Stat("tmp").Mode));
        Assert.Equal(DirMtime.ToUnixTimeSeconds(), Stat("tmp").ModificationTime.Seconds);
        Assert.Equal(DirMtime.ToUnixTimeSeconds(), Stat("etc").ModificationTime.Seconds); // children did not disturb it

        var link = Stat("etc/link");
        Assert.Equal((FileKind.Symlink, 5u, 6u), (link.Kind, link.Uid, link.Gid));
        Assert.Equal("../does/not/exist", new FileInfo(At("etc/link")).LinkTarget);
        Assert.Equal(Mtime.ToUnixTimeSeconds(), link.ModificationTime.Seconds);

        var hard = Stat("etc/hard");
        Assert.Equal(file.Inode, hard.Inode);
        Assert.Equal(2ul, hard.LinkCount);

        var dev = Stat("dev/null");
        Assert.Equal((FileKind.CharDevice, 1u, 3u, 0x1B6), (dev.Kind, dev.DeviceMajor, dev.DeviceMinor, dev.Mode));
        var block = Stat("dev/loop0");
        Assert.Equal((FileKind.BlockDevice, 7u, 0u, 0x1B0), (block.Kind, block.DeviceMajor, block.DeviceMinor, block.Mode));
        Assert.Equal((FileKind.Fifo, 0x180), (Stat("run/fifo").Kind, Stat("run/fifo").Mode));

        Assert.Equal("pax", System.IO.File.ReadAllText(At(longPaxName)));
        Assert.Equal("gnu", System.IO.File.ReadAllText(At(longGnuName)));
        Assert.Equal((3u, 4u), (Stat(longGnuName).Uid, Stat(longGnuName).Gid));
        Assert.Equal((0x1C0, 7u, 8u), (Stat("opt").Mode, Stat("opt").Uid, Stat("opt").Gid));
    }

    [Fact]
    public async Task Keeps_binary_xattr_values_byte_for_byte()
    {
        // cap_setuid,cap_setgid=ep: the 0xC0 byte is not UTF-8, which System.Formats.Tar would mangle.
        byte[] capability = [1, 0, 0, 2, 0xC0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        var placeholder = "CAPABILITYPLACEHOLDR";
        var tar = BuildTar(w => w.WriteEntry(File("newuidmap", "elf", 0x1ED, 0, 0, ("security.capability", placeholder))));
        var at = tar.AsSpan().IndexOf(Encoding.ASCII.GetBytes(placeholder));
        capability.CopyTo(tar.AsSpan(at));

        var digest = await LayerUnpacker.UnpackAsync(WriteBlob(tar, "gzip"), OciGzip, _target, CancellationToken.None);

        Assert.Equal(capability, FileMetadata.Lgetxattr(At("newuidmap"), "security.capability"));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(tar)), digest.Hex);
    }

    [Fact]
    public async Task Turns_whiteouts_into_overlayfs_form()
    {
        var tar = BuildTar(w =>
        {
            w.WriteEntry(Dir("a/", 0x1ED, 0, 0));
            w.WriteEntry(File("a/.wh.gone", "", 0x1A4, 12, 34));
            w.WriteEntry(File("b/.wh..wh..opq", "", 0x1A4, 0, 0)); // parent not declared: created
            w.WriteEntry(File("b/.wh..wh.plnk", "", 0x1A4, 0, 0)); // aufs bookkeeping: skipped
            w.WriteEntry(File("b/new", "new", 0x1A4, 0, 0));
        });

        await LayerUnpacker.UnpackAsync(WriteBlob(tar, "plain"), OciTar, _target, CancellationToken.None);

        var whiteout = Stat("a/gone");
        Assert.Equal((FileKind.CharDevice, 0u, 0u, 0, 12u, 34u),
            (whiteout.Kind, whiteout.DeviceMajor, whiteout.DeviceMinor, whiteout.Mode, whiteout.Uid, whiteout.Gid));
        Assert.False(System.IO.File.Exists(At("a/.wh.gone")));
        Assert.Equal("y"u8.ToArray(), FileMetadata.Lgetxattr(At("b"), "trusted.overlay.opaque"));
        Assert.Equal(new[] { "new" }, Directory.GetFileSystemEntries(At("b")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_later_entry_replaces_an_earlier_one()
    {
        var outside = Path.Combine(_sandbox, "outside-file");
        System.IO.File.WriteAllText(outside, "untouched");
        var tar = BuildTar(w =>
        {
            w.WriteEntry(File("f", "first", 0x1A4, 0, 0));
            w.WriteEntry(File("f", "second", 0x180, 0, 0));
            w.WriteEntry(Dir("d/", 0x1ED, 0, 0));
            w.WriteEntry(File("d/child", "x", 0x1A4, 0, 0));
            w.WriteEntry(Dir("d/", 0x1C0, 9, 9)); // re-declared: metadata updated, contents kept
            w.WriteEntry(Dir("was-dir/", 0x1ED, 0, 0));
            w.WriteEntry(File("was-dir", "now a file", 0x1A4, 0, 0));
            w.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, "was-link") { LinkName = outside });
            w.WriteEntry(File("was-link", "replaced, not written through", 0x1A4, 0, 0));
        });

        await LayerUnpacker.UnpackAsync(WriteBlob(tar, "plain"), OciTar, _target, CancellationToken.None);

        Assert.Equal("second", System.IO.File.ReadAllText(At("f")));
        Assert.Equal(0x180, Stat("f").Mode);
        Assert.Equal((0x1C0, 9u), (Stat("d").Mode, Stat("d").Uid));
        Assert.True(System.IO.File.Exists(At("d/child")));
        Assert.Equal("now a file", System.IO.File.ReadAllText(At("was-dir")));
        Assert.Equal(FileKind.Regular, Stat("was-link").Kind);
        Assert.Equal("untouched", System.IO.File.ReadAllText(outside));
    }

    [Fact]
    public async Task Digest_covers_trailing_blocks_after_the_end_marker()
    {
        var tar = BuildTar(w => w.WriteEntry(File("f", "x", 0x1A4, 0, 0)));
        tar = [.. tar, .. new byte[10240]];

        var digest = await LayerUnpacker.UnpackAsync(WriteBlob(tar, "zstd"), OciZstd, _target, CancellationToken.None);

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(tar)), digest.Hex);
    }

    [Fact]
    public async Task Refuses_an_existing_target_and_removes_a_target_after_corrupt_input()
    {
        Directory.CreateDirectory(_target);
        var blob = WriteBlob(BuildTar(w => w.WriteEntry(File("f", "x", 0x1A4, 0, 0))), "plain");
        await Assert.ThrowsAsync<IOException>(() => LayerUnpacker.UnpackAsync(blob, OciTar, _target, CancellationToken.None));
        Assert.True(Directory.Exists(_target));
        Directory.Delete(_target);

        var tar = BuildTar(w => w.WriteEntry(File("big", new string('x', 5000), 0x1A4, 0, 0)));
        var truncated = WriteBlob(tar[..3000], "gzip");
        await Assert.ThrowsAnyAsync<IOException>(() => LayerUnpacker.UnpackAsync(truncated, OciGzip, _target, CancellationToken.None));
        Assert.False(Directory.Exists(_target));
    }

    public static TheoryData<string> HostileCases() => new()
    {
        "dotdot", "absolute", "nested-dotdot", "symlink-to-root", "symlink-up", "hardlink-dotdot",
        "hardlink-absolute", "hardlink-through-symlink", "hardlink-to-directory", "hardlink-missing", "nul", "too-long",
    };

    [Theory]
    [MemberData(nameof(HostileCases))]
    public async Task Refuses_hostile_entries_without_writing_outside(string hostileCase)
    {
        var sandboxFromTarget = _sandbox.TrimStart('/');
        (Action<TarWriter> Write, string Entry) hostile = hostileCase switch
        {
            "dotdot" => (w => w.WriteEntry(File("../escape", "x", 0x1A4, 0, 0)), "../escape"),
            "absolute" => (w => w.WriteEntry(File(_sandbox + "/abs", "x", 0x1A4, 0, 0)), _sandbox + "/abs"),
            "nested-dotdot" => (w => w.WriteEntry(File("a/../../x", "x", 0x1A4, 0, 0)), "a/../../x"),
            "symlink-to-root" => (w =>
            {
                w.WriteEntry(Symlink("evil", "/"));
                w.WriteEntry(File("evil/" + sandboxFromTarget + "/x", "x", 0x1A4, 0, 0));
            }, "evil/" + sandboxFromTarget + "/x"),
            "symlink-up" => (w =>
            {
                w.WriteEntry(Symlink("d", "../.."));
                w.WriteEntry(File("d/x", "x", 0x1A4, 0, 0));
            }, "d/x"),
            "hardlink-dotdot" => (w => w.WriteEntry(HardLink("h", "../../etc/passwd")), "h"),
            "hardlink-absolute" => (w => w.WriteEntry(HardLink("h", "/etc/passwd")), "h"),
            "hardlink-through-symlink" => (w =>
            {
                w.WriteEntry(Symlink("s", "/etc"));
                w.WriteEntry(HardLink("h", "s/passwd"));
            }, "h"),
            "hardlink-to-directory" => (w =>
            {
                w.WriteEntry(Dir("d/", 0x1ED, 0, 0));
                w.WriteEntry(HardLink("h", "d"));
            }, "h"),
            "hardlink-missing" => (w => w.WriteEntry(HardLink("h", "not/here")), "h"),
            "nul" => (w => w.WriteEntry(File("a\0b", "x", 0x1A4, 0, 0)), "a\0b"),
            "too-long" => (w => w.WriteEntry(File(string.Join('/', Enumerable.Repeat(new string('n', 200), 21)), "x", 0x1A4, 0, 0)),
                string.Join('/', Enumerable.Repeat(new string('n', 200), 21))),
            _ => throw new ArgumentException(hostileCase),
        };
        var tar = BuildTar(w =>
        {
            w.WriteEntry(File("harmless", "ok", 0x1A4, 0, 0));
            hostile.Write(w);
        });
        var blob = WriteBlob(tar, "gzip");
        var before = SnapshotOutsideTarget();

        var error = await Assert.ThrowsAsync<HostileLayerException>(
            () => LayerUnpacker.UnpackAsync(blob, OciGzip, _target, CancellationToken.None));

        Assert.Equal(hostile.Entry, error.Entry);
        Assert.Contains(error.Entry.Replace("\0", "\\0", StringComparison.Ordinal), error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_target));
        Assert.Equal(before, SnapshotOutsideTarget());
    }

    [Fact]
    public async Task Layers_stack_under_overlayfs()
    {
        var lower = BuildTar(w =>
        {
            w.WriteEntry(Dir("a/", 0x1ED, 0, 0));
            w.WriteEntry(File("a/file", "lower", 0x1A4, 0, 0));
            w.WriteEntry(File("a/kept", "kept", 0x1A4, 0, 0));
            w.WriteEntry(Dir("b/", 0x1ED, 0, 0));
            w.WriteEntry(File("b/x", "x", 0x1A4, 0, 0));
        });
        var upper = BuildTar(w =>
        {
            w.WriteEntry(File("a/.wh.file", "", 0x1A4, 0, 0));
            w.WriteEntry(Dir("b/", 0x1ED, 0, 0));
            w.WriteEntry(File("b/.wh..wh..opq", "", 0x1A4, 0, 0));
            w.WriteEntry(File("b/new", "new", 0x1A4, 0, 0));
        });
        var lowerDir = Path.Combine(_sandbox, "lower");
        var upperDir = Path.Combine(_sandbox, "upper");
        var mountPoint = Directory.CreateDirectory(Path.Combine(_sandbox, "merged")).FullName;
        await LayerUnpacker.UnpackAsync(WriteBlob(lower, "gzip"), OciGzip, lowerDir, CancellationToken.None);
        await LayerUnpacker.UnpackAsync(WriteBlob(upper, "zstd"), OciZstd, upperDir, CancellationToken.None);

        await Run("/bin/mount", "-t", "overlay", "overlay", "-o", $"lowerdir={upperDir}:{lowerDir}", mountPoint);
        try
        {
            Assert.False(Path.Exists(Path.Combine(mountPoint, "a/file")));
            Assert.Equal("kept", System.IO.File.ReadAllText(Path.Combine(mountPoint, "a/kept")));
            Assert.False(Path.Exists(Path.Combine(mountPoint, "b/x")));
            Assert.Equal("new", System.IO.File.ReadAllText(Path.Combine(mountPoint, "b/new")));
        }
        finally
        {
            await Run("/bin/umount", mountPoint);
        }
    }

    static PaxTarEntry File(string name, string content, int mode, int uid, int gid, params (string Name, string Value)[] xattrs) =>
        new(TarEntryType.RegularFile, name, xattrs.Select(x => KeyValuePair.Create("SCHILY.xattr." + x.Name, x.Value)))
        {
            Mode = (UnixFileMode)mode, Uid = uid, Gid = gid, ModificationTime = Mtime,
            DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)),
        };

    static PaxTarEntry Dir(string name, int mode, int uid, int gid) =>
        new(TarEntryType.Directory, name) { Mode = (UnixFileMode)mode, Uid = uid, Gid = gid, ModificationTime = DirMtime };

    static PaxTarEntry Symlink(string name, string target) =>
        new(TarEntryType.SymbolicLink, name) { LinkName = target, ModificationTime = Mtime };

    static PaxTarEntry HardLink(string name, string target) =>
        new(TarEntryType.HardLink, name) { LinkName = target, ModificationTime = Mtime };

    static PaxTarEntry Device(TarEntryType type, string name, int major, int minor, int mode)
    {
        var entry = new PaxTarEntry(type, name) { Mode = (UnixFileMode)mode, ModificationTime = Mtime };
        if (type != TarEntryType.Fifo) (entry.DeviceMajor, entry.DeviceMinor) = (major, minor);
        return entry;
    }

    static byte[] BuildTar(Action<TarWriter> write, TarEntryFormat format = TarEntryFormat.Pax)
    {
        var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, format, leaveOpen: true))
            write(writer);
        return buffer.ToArray();
    }

    /// <summary>One archive from two: the first's end marker (two zero blocks) dropped.</summary>
    static byte[] Concat(byte[] first, byte[] second) => [.. first[..^1024], .. second];

    string WriteBlob(byte[] tar, string compression)
    {
        var path = Path.Combine(_sandbox, $"blob-{Guid.NewGuid():N}");
        using var file = System.IO.File.Create(path);
        using var compressor = compression switch
        {
            "gzip" => new GZipStream(file, CompressionLevel.Fastest, leaveOpen: true),
            "zstd" => new CompressionStream(file, 3, leaveOpen: true),
            _ => (Stream)file,
        };
        compressor.Write(tar);
        return path;
    }

    string At(string relative) => Path.Combine(_target, relative);

    FileStatus Stat(string relative) => FileMetadata.Lstat(At(relative));

    /// <summary>Every path in the sandbox outside the target (blobs included), to prove nothing escaped.</summary>
    string[] SnapshotOutsideTarget() =>
        Directory.EnumerateFileSystemEntries(_sandbox, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Where(p => p != _target && !p.StartsWith(_target + "/", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToArray();

    static async Task Run(string program, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(program, args) { RedirectStandardError = true })!;
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', args)}: {stderr}");
    }
}
