using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using CriSharp.Images.Content;
using CriSharp.Linux;
using ZstdSharp;
using CriSharp.Model;

namespace CriSharp.Images.Layers;

/// <summary>A layer entry that would escape the target directory or is otherwise refused on sight.</summary>
public sealed class HostileLayerException(string entry, string reason)
    : CriSharpException(ErrorKind.FailedPrecondition, $"hostile layer entry '{entry.Replace("\0", "\\0", StringComparison.Ordinal)}': {reason}")
{
    public string Entry { get; } = entry;
    public string Reason { get; } = reason;
}

/// <summary>Unpacks one layer blob into an overlay-ready directory.</summary>
public static class LayerUnpacker
{
    /// <summary>
    /// Unpacks <paramref name="blobPath"/> into <paramref name="targetDir"/> (which must not exist) and
    /// returns the sha256 of the uncompressed tar stream, the layer's diff id. On any failure the
    /// target directory is removed entirely.
    /// </summary>
    /// <remarks>
    /// Compression is taken from the blob's magic bytes, whatever <paramref name="mediaType"/> says:
    /// registries and old tools mislabel layers, and docker and containerd sniff too.
    /// </remarks>
    public static async Task<Digest> UnpackAsync(string blobPath, string mediaType, string targetDir, CancellationToken ct)
    {
        if (mediaType.Contains("+encrypted", StringComparison.Ordinal))
            throw new NotSupportedException($"encrypted layers ({mediaType}) are not supported");
        targetDir = Path.TrimEndingDirectorySeparator(Path.GetFullPath(targetDir));
        if (FileSystem.GetKind(targetDir) != FileKind.Missing)
            throw new IOException($"layer target {targetDir} already exists");

        await using var blob = new FileStream(blobPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        var compression = await SniffAsync(blob, ct);
        Directory.CreateDirectory(targetDir);
        try
        {
            await using var decompressed = compression switch
            {
                Compression.Gzip => new GZipStream(blob, CompressionMode.Decompress, leaveOpen: true),
                Compression.Zstd => new DecompressionStream(blob, leaveOpen: true),
                _ => (Stream)blob, // disposing it twice is harmless
            };
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using var tarStream = new BufferedStream(new HashingReadStream(decompressed, hash), 1 << 16);
            var tar = new LayerTarReader(tarStream);
            var writer = new LayerTreeWriter(targetDir);
            while (await tar.NextAsync(ct) is { } entry)
                await writer.ApplyAsync(entry, tar, ct);
            await tar.DrainAsync(ct);
            writer.SetDirectoryTimes();
            FileMetadata.Syncfs(targetDir);
            return new Digest(Convert.ToHexStringLower(hash.GetHashAndReset()));
        }
        catch
        {
            RemoveTree(targetDir);
            throw;
        }
    }

    enum Compression { None, Gzip, Zstd }

    static async Task<Compression> SniffAsync(FileStream blob, CancellationToken ct)
    {
        var magic = new byte[4];
        var read = await blob.ReadAtLeastAsync(magic, magic.Length, throwOnEndOfStream: false, ct);
        blob.Position = 0;
        if (read >= 2 && magic[0] == 0x1F && magic[1] == 0x8B) return Compression.Gzip;
        if (read >= 4 && magic.AsSpan().SequenceEqual((ReadOnlySpan<byte>)[0x28, 0xB5, 0x2F, 0xFD])) return Compression.Zstd;
        return Compression.None;
    }

    static void RemoveTree(string path)
    {
        try
        {
            if (FileSystem.GetKind(path) == FileKind.Directory) Directory.Delete(path, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or LinuxException)
        {
            // The original failure matters more; a leftover directory is reported by the next attempt.
        }
    }

    /// <summary>Applies tar entries to a directory tree, never creating or following anything outside it.</summary>
    sealed class LayerTreeWriter(string root)
    {
        const int MaxPathBytes = 4096;
        const string WhiteoutPrefix = ".wh.";
        const string MetaPrefix = ".wh..wh.";
        const string OpaqueMarker = ".wh..wh..opq";

        // Relative paths lstat'ed as real directories; dropped when something at or above them is removed.
        readonly HashSet<string> _knownDirectories = new(StringComparer.Ordinal) { "" };
        // Directory times are set last: creating entries inside a directory changes its mtime.
        readonly Dictionary<string, (UnixTime Access, UnixTime Modified)> _directoryTimes = new(StringComparer.Ordinal);

        public async Task ApplyAsync(TarEntryHeader entry, LayerTarReader tar, CancellationToken ct)
        {
            var relative = CleanPath(entry.Name, entry.Name);
            var (parent, name) = Split(relative);

            if (name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
            {
                ApplyWhiteout(entry, parent, name);
                return;
            }
            if (relative.Length == 0)
            {
                if (entry.Type != TarEntryHeader.Directory) throw new HostileLayerException(entry.Name, "the layer root is not a directory");
                ApplyMetadata(entry, root, relative);
                return;
            }

            EnsureDirectory(parent, entry.Name);
            var path = Resolve(relative);
            var existing = FileSystem.GetKind(path);
            switch (entry.Type)
            {
                case TarEntryHeader.Directory:
                    if (existing != FileKind.Directory)
                    {
                        Remove(relative, existing);
                        Directory.CreateDirectory(path);
                    }
                    _knownDirectories.Add(relative);
                    break;
                case TarEntryHeader.RegularFile:
                    Remove(relative, existing);
                    await using (var file = new FileStream(path, new FileStreamOptions
                    {
                        Mode = FileMode.CreateNew, Access = FileAccess.Write, BufferSize = 0, PreallocationSize = entry.Size,
                    }))
                        await tar.CopyDataAsync(file, ct);
                    break;
                case TarEntryHeader.Symlink:
                    if (entry.LinkName.Length == 0) throw new HostileLayerException(entry.Name, "symlink with an empty target");
                    if (entry.LinkName.Contains('\0')) throw new HostileLayerException(entry.Name, "symlink target contains a NUL byte");
                    Remove(relative, existing);
                    File.CreateSymbolicLink(path, entry.LinkName); // stored verbatim, never resolved
                    break;
                case TarEntryHeader.HardLink:
                    ApplyHardLink(entry, relative, existing);
                    return; // the inode already carries its metadata from the entry that created it
                case TarEntryHeader.CharDevice or TarEntryHeader.BlockDevice or TarEntryHeader.Fifo:
                    Remove(relative, existing);
                    var kind = entry.Type switch
                    {
                        TarEntryHeader.CharDevice => SpecialFileKind.CharDevice,
                        TarEntryHeader.BlockDevice => SpecialFileKind.BlockDevice,
                        _ => SpecialFileKind.Fifo,
                    };
                    FileMetadata.Mknod(path, kind, entry.Mode & 0x1FF, entry.DevMajor, entry.DevMinor);
                    break;
            }
            ApplyMetadata(entry, path, relative);
        }

        /// <summary>Sets the directories' recorded times, deepest first.</summary>
        public void SetDirectoryTimes()
        {
            foreach (var (relative, times) in _directoryTimes.OrderByDescending(d => d.Key.Length == 0 ? -1 : d.Key.Count(c => c == '/')))
            {
                var path = Resolve(relative);
                if (FileSystem.GetKind(path) == FileKind.Directory) FileMetadata.SetTimes(path, times.Access, times.Modified);
            }
        }

        /// <summary>
        /// Owner first, then xattrs and mode: chown clears setuid/setgid and security.capability.
        /// Symlinks have no mode of their own.
        /// </summary>
        void ApplyMetadata(TarEntryHeader entry, string path, string relative)
        {
            FileMetadata.Lchown(path, entry.Uid, entry.Gid);
            var isSymlink = entry.Type == TarEntryHeader.Symlink;
            foreach (var (name, value) in entry.Xattrs)
                SetXattr(entry, path, name, value, isSymlink);
            if (!isSymlink) FileMetadata.Chmod(path, entry.Mode);
            var times = (entry.AccessTime ?? entry.ModificationTime, entry.ModificationTime);
            if (entry.Type == TarEntryHeader.Directory) _directoryTimes[relative] = times;
            else FileMetadata.SetTimes(path, times.Item1, times.Item2, noFollow: true);
        }

        static void SetXattr(TarEntryHeader entry, string path, string name, byte[] value, bool isSymlink)
        {
            if (name.Length == 0 || name.Contains('\0')) throw new HostileLayerException(entry.Name, "malformed xattr name");
            // overlay's own attributes (opaque, redirect, metacopy) come only from whiteout conversion, never from layer content.
            if (name.StartsWith("trusted.overlay.", StringComparison.Ordinal)) return;
            try
            {
                FileMetadata.Lsetxattr(path, name, value);
            }
            catch (LinuxException e) when (e.Errno == Tmds.Linux.LibC.EOPNOTSUPP || (isSymlink && e.Errno == Tmds.Linux.LibC.EPERM))
            {
                // The file system cannot hold it, or user.* on a symlink (the kernel refuses those); as containerd, skip.
            }
        }

        void ApplyWhiteout(TarEntryHeader entry, string parent, string name)
        {
            if (name == OpaqueMarker)
            {
                EnsureDirectory(parent, entry.Name);
                FileMetadata.Lsetxattr(Resolve(parent), "trusted.overlay.opaque", "y"u8);
                return;
            }
            if (name.StartsWith(MetaPrefix, StringComparison.Ordinal)) return; // aufs bookkeeping (.wh..wh.plnk, ...)

            var victim = name[WhiteoutPrefix.Length..];
            if (victim is "" or "." or "..") throw new HostileLayerException(entry.Name, "whiteout of an invalid name");
            EnsureDirectory(parent, entry.Name);
            var relative = Join(parent, victim);
            var path = Resolve(relative);
            Remove(relative, FileSystem.GetKind(path));
            // overlayfs's whiteout: a 0/0 character device.
            FileMetadata.Mknod(path, SpecialFileKind.CharDevice, 0, 0, 0);
            FileMetadata.Lchown(path, entry.Uid, entry.Gid);
        }

        void ApplyHardLink(TarEntryHeader entry, string relative, FileKind existing)
        {
            if (entry.LinkName.Length == 0) throw new HostileLayerException(entry.Name, "hardlink with an empty target");
            var target = CleanPath(entry.LinkName, entry.Name);
            if (target.Length == 0) throw new HostileLayerException(entry.Name, "hardlink to the layer root");
            if (target == relative && existing is not (FileKind.Missing or FileKind.Directory)) return;

            var (targetParent, _) = Split(target);
            var prefix = "";
            foreach (var component in targetParent.Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                prefix = Join(prefix, component);
                if (_knownDirectories.Contains(prefix)) continue;
                switch (FileSystem.GetKind(Resolve(prefix)))
                {
                    case FileKind.Directory: _knownDirectories.Add(prefix); break;
                    case FileKind.Symlink: throw new HostileLayerException(entry.Name, $"hardlink target '{entry.LinkName}' goes through symlink '{prefix}'");
                    default: throw new HostileLayerException(entry.Name, $"hardlink target '{entry.LinkName}' does not exist in this layer");
                }
            }
            var targetPath = Resolve(target);
            switch (FileSystem.GetKind(targetPath))
            {
                case FileKind.Missing: throw new HostileLayerException(entry.Name, $"hardlink target '{entry.LinkName}' does not exist in this layer");
                case FileKind.Directory: throw new HostileLayerException(entry.Name, $"hardlink to directory '{entry.LinkName}'");
            }
            Remove(relative, existing);
            FileMetadata.Link(targetPath, Resolve(relative));
        }

        /// <summary>Makes every component of <paramref name="relative"/> a real directory: missing ones are created, symlinks refused.</summary>
        void EnsureDirectory(string relative, string entry)
        {
            if (_knownDirectories.Contains(relative)) return;
            var prefix = "";
            foreach (var component in relative.Split('/'))
            {
                prefix = Join(prefix, component);
                if (_knownDirectories.Contains(prefix)) continue;
                var path = Resolve(prefix);
                switch (FileSystem.GetKind(path))
                {
                    case FileKind.Missing:
                        Directory.CreateDirectory(path);
                        FileMetadata.Chmod(path, 0x1ED); // 0755, whatever the umask, as containerd does for implied parents
                        break;
                    case FileKind.Directory:
                        break;
                    case FileKind.Symlink:
                        throw new HostileLayerException(entry, $"'{prefix}' is a symlink; writing through it could escape the layer");
                    default:
                        throw new HostileLayerException(entry, $"parent '{prefix}' is not a directory");
                }
                _knownDirectories.Add(prefix);
            }
        }

        /// <summary>Clears the way for a new entry: a later entry replaces an earlier one of the same path.</summary>
        void Remove(string relative, FileKind existing)
        {
            if (existing == FileKind.Missing) return;
            var path = Resolve(relative);
            if (existing != FileKind.Directory)
            {
                File.Delete(path);
                return;
            }
            // Recursive delete unlinks symlinks inside rather than following them.
            Directory.Delete(path, recursive: true);
            var below = relative + "/";
            _knownDirectories.RemoveWhere(d => d == relative || d.StartsWith(below, StringComparison.Ordinal));
            foreach (var key in _directoryTimes.Keys.Where(d => d == relative || d.StartsWith(below, StringComparison.Ordinal)).ToList())
                _directoryTimes.Remove(key);
        }

        string Resolve(string relative) => relative.Length == 0 ? root : root + "/" + relative;

        /// <summary>
        /// The entry's path relative to the layer root, "./" prefixes and empty or "." components dropped.
        /// Absolute paths, ".." components, NUL bytes and over-long paths are refused.
        /// </summary>
        static string CleanPath(string name, string entry)
        {
            if (name.Contains('\0')) throw new HostileLayerException(entry, "path contains a NUL byte");
            if (Encoding.UTF8.GetByteCount(name) > MaxPathBytes) throw new HostileLayerException(entry, $"path longer than {MaxPathBytes} bytes");
            if (name.StartsWith('/')) throw new HostileLayerException(entry, $"absolute path '{name}'");
            var kept = new List<string>();
            foreach (var component in name.Split('/'))
            {
                if (component is "" or ".") continue;
                if (component == "..") throw new HostileLayerException(entry, $"'..' in path '{name}'");
                kept.Add(component);
            }
            return string.Join('/', kept);
        }

        static (string Parent, string Name) Split(string relative)
        {
            var slash = relative.LastIndexOf('/');
            return slash < 0 ? ("", relative) : (relative[..slash], relative[(slash + 1)..]);
        }

        static string Join(string parent, string name) => parent.Length == 0 ? name : parent + "/" + name;
    }

    /// <summary>Feeds every byte read through it into the hash: the diff id is computed while unpacking.</summary>
    sealed class HashingReadStream(Stream inner, IncrementalHash hash) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var read = inner.Read(buffer);
            hash.AppendData(buffer[..read]);
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
            ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            var read = await inner.ReadAsync(buffer, ct);
            hash.AppendData(buffer.Span[..read]);
            return read;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
