using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace CriSharp.TestSupport;

/// <summary>OCI image-spec media types used by the test images.</summary>
public static class OciMediaTypes
{
    public const string Manifest = "application/vnd.oci.image.manifest.v1+json";
    public const string Index = "application/vnd.oci.image.index.v1+json";
    public const string Config = "application/vnd.oci.image.config.v1+json";
    public const string LayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
}

/// <summary>A content-addressed blob (config, layer or manifest bytes).</summary>
public sealed class OciBlob
{
    public OciBlob(string mediaType, byte[] data, string? diffId = null)
    {
        MediaType = mediaType;
        Data = data;
        Digest = Sha256Digest(data);
        DiffId = diffId;
    }

    public string MediaType { get; }
    public byte[] Data { get; }
    /// <summary>"sha256:hex" of <see cref="Data"/>.</summary>
    public string Digest { get; }
    public long Size => Data.LongLength;
    /// <summary>For layers: sha256 of the uncompressed tar.</summary>
    public string? DiffId { get; }

    /// <summary>The OCI descriptor of this blob.</summary>
    public JsonObject Descriptor() => new()
    {
        ["mediaType"] = MediaType,
        ["digest"] = Digest,
        ["size"] = Size,
    };

    public static string Sha256Digest(ReadOnlySpan<byte> data) =>
        "sha256:" + Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();
}

/// <summary>Platform of a manifest inside an index.</summary>
public sealed record OciPlatform(string Os, string Architecture, string? Variant = null)
{
    public JsonObject ToJson()
    {
        var o = new JsonObject { ["architecture"] = Architecture, ["os"] = Os };
        if (Variant is not null) o["variant"] = Variant;
        return o;
    }

    public override string ToString() => Variant is null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";
}

/// <summary>
/// Built (not yet pushed) image content: either a single-platform manifest with config and
/// layers, or an index over child images.
/// </summary>
public sealed class OciImage
{
    private OciImage(string mediaType, byte[] manifest, OciBlob? config, IReadOnlyList<OciBlob> layers,
        IReadOnlyList<(OciImage Image, OciPlatform Platform)> children)
    {
        MediaType = mediaType;
        ManifestBytes = manifest;
        Digest = OciBlob.Sha256Digest(manifest);
        Config = config;
        Layers = layers;
        Children = children;
    }

    public string MediaType { get; }
    public byte[] ManifestBytes { get; }
    public string Digest { get; }
    public OciBlob? Config { get; }
    public IReadOnlyList<OciBlob> Layers { get; }
    public IReadOnlyList<(OciImage Image, OciPlatform Platform)> Children { get; }
    public bool IsIndex => MediaType == OciMediaTypes.Index;

    /// <summary>Every blob (config + layers) of this image and its children, deduplicated.</summary>
    public IReadOnlyList<OciBlob> AllBlobs()
    {
        var seen = new HashSet<string>();
        var list = new List<OciBlob>();
        void Visit(OciImage img)
        {
            if (img.Config is not null && seen.Add(img.Config.Digest)) list.Add(img.Config);
            foreach (var l in img.Layers) if (seen.Add(l.Digest)) list.Add(l);
            foreach (var (c, _) in img.Children) Visit(c);
        }
        Visit(this);
        return list;
    }

    /// <summary>Builds a single-platform OCI image (config + manifest) from layers.</summary>
    public static OciImage Create(IReadOnlyList<OciBlob> layers, ImageConfig config)
    {
        var diffIds = new JsonArray();
        foreach (var l in layers) diffIds.Add(l.DiffId ?? throw new ArgumentException("layer without diff_id"));
        var cfg = new JsonObject();
        if (config.Env.Count > 0) cfg["Env"] = ToArray(config.Env);
        if (config.Entrypoint is not null) cfg["Entrypoint"] = ToArray(config.Entrypoint);
        if (config.Cmd is not null) cfg["Cmd"] = ToArray(config.Cmd);
        if (config.User is not null) cfg["User"] = config.User;
        if (config.WorkingDir is not null) cfg["WorkingDir"] = config.WorkingDir;
        if (config.Labels.Count > 0)
        {
            var labels = new JsonObject();
            foreach (var kv in config.Labels.OrderBy(k => k.Key, StringComparer.Ordinal)) labels[kv.Key] = kv.Value;
            cfg["Labels"] = labels;
        }
        if (config.StopSignal is not null) cfg["StopSignal"] = config.StopSignal;
        var history = new JsonArray();
        foreach (var _ in layers)
            history.Add(new JsonObject { ["created"] = config.Created, ["created_by"] = "crisharp-testenv" });
        var configJson = new JsonObject
        {
            ["created"] = config.Created,
            ["architecture"] = config.Platform.Architecture,
            ["os"] = config.Platform.Os,
        };
        if (config.Platform.Variant is not null) configJson["variant"] = config.Platform.Variant;
        configJson["config"] = cfg;
        configJson["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = diffIds };
        configJson["history"] = history;
        var configBlob = new OciBlob(OciMediaTypes.Config, Encoding.UTF8.GetBytes(configJson.ToJsonString()));

        var layerDescs = new JsonArray();
        foreach (var l in layers) layerDescs.Add(l.Descriptor());
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = OciMediaTypes.Manifest,
            ["config"] = configBlob.Descriptor(),
            ["layers"] = layerDescs,
        };
        if (config.Annotations.Count > 0)
        {
            var ann = new JsonObject();
            foreach (var kv in config.Annotations.OrderBy(k => k.Key, StringComparer.Ordinal)) ann[kv.Key] = kv.Value;
            manifest["annotations"] = ann;
        }
        return new OciImage(OciMediaTypes.Manifest, Encoding.UTF8.GetBytes(manifest.ToJsonString()), configBlob, layers, []);
    }

    /// <summary>Builds an OCI image index over single-platform images.</summary>
    public static OciImage CreateIndex(IReadOnlyList<(OciImage Image, OciPlatform Platform)> children)
    {
        var manifests = new JsonArray();
        foreach (var (img, platform) in children)
        {
            if (img.IsIndex) throw new ArgumentException("nested indexes are not supported");
            manifests.Add(new JsonObject
            {
                ["mediaType"] = img.MediaType,
                ["digest"] = img.Digest,
                ["size"] = img.ManifestBytes.LongLength,
                ["platform"] = platform.ToJson(),
            });
        }
        var index = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = OciMediaTypes.Index,
            ["manifests"] = manifests,
        };
        return new OciImage(OciMediaTypes.Index, Encoding.UTF8.GetBytes(index.ToJsonString()), null, [], children);
    }

    private static JsonArray ToArray(IEnumerable<string> items)
    {
        var a = new JsonArray();
        foreach (var i in items) a.Add(i);
        return a;
    }
}

/// <summary>Image configuration (the <c>config</c> object of the OCI image config).</summary>
public sealed record ImageConfig
{
    public const string DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public OciPlatform Platform { get; init; } = new("linux", "amd64");
    public string Created { get; init; } = "2024-01-01T00:00:00Z";
    public IReadOnlyList<string> Env { get; init; } = [DefaultPath];
    public IReadOnlyList<string>? Entrypoint { get; init; }
    public IReadOnlyList<string>? Cmd { get; init; }
    public string? User { get; init; }
    public string? WorkingDir { get; init; }
    public string? StopSignal { get; init; }
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// Builds one layer tar deterministically: ustar entries, fixed mtime, uid/gid 0 unless given,
/// parent directories added automatically, then gzip. diff_id = sha256 of the uncompressed tar.
/// </summary>
public sealed class LayerBuilder
{
    /// <summary>mtime of every entry.</summary>
    public static readonly DateTimeOffset EntryTime = new(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly List<Func<TarEntry>> _entries = new();
    private readonly HashSet<string> _dirs = new(StringComparer.Ordinal);

    private static string Norm(string path) => path.Trim('/');

    private void EnsureParents(string path)
    {
        var parts = Norm(path).Split('/');
        var acc = "";
        for (int i = 0; i < parts.Length - 1; i++)
        {
            acc = acc.Length == 0 ? parts[i] : acc + "/" + parts[i];
            if (!_dirs.Contains(acc)) Directory(acc);
        }
    }

    private static T Stamp<T>(T e, int mode, int uid, int gid) where T : TarEntry
    {
        e.ModificationTime = EntryTime;
        e.Mode = (UnixFileMode)mode;
        e.Uid = uid;
        e.Gid = gid;
        return e;
    }

    /// <summary>Adds a directory entry (idempotent).</summary>
    public LayerBuilder Directory(string path, int mode = 0x1ED /* 0755 */, int uid = 0, int gid = 0)
    {
        var p = Norm(path);
        if (p.Length == 0 || !_dirs.Add(p)) return this;
        EnsureParents(p);
        _entries.Add(() => Stamp(new UstarTarEntry(TarEntryType.Directory, p + "/"), mode, uid, gid));
        return this;
    }

    /// <summary>Adds a regular file.</summary>
    public LayerBuilder File(string path, byte[] content, int mode = 0x1A4 /* 0644 */, int uid = 0, int gid = 0)
    {
        var p = Norm(path);
        EnsureParents(p);
        _entries.Add(() => Stamp(new UstarTarEntry(TarEntryType.RegularFile, p)
        {
            DataStream = new MemoryStream(content, writable: false),
        }, mode, uid, gid));
        return this;
    }

    /// <summary>Adds a regular text file (UTF-8).</summary>
    public LayerBuilder File(string path, string content, int mode = 0x1A4, int uid = 0, int gid = 0) =>
        File(path, Encoding.UTF8.GetBytes(content), mode, uid, gid);

    /// <summary>Adds a regular file whose content is produced when the layer is built (large data).</summary>
    public LayerBuilder File(string path, Func<Stream> content, int mode = 0x1A4)
    {
        var p = Norm(path);
        EnsureParents(p);
        _entries.Add(() => Stamp(new UstarTarEntry(TarEntryType.RegularFile, p) { DataStream = content() }, mode, 0, 0));
        return this;
    }

    /// <summary>Adds a copy of a host file (symlinks on the host are followed).</summary>
    public LayerBuilder HostFile(string path, string hostPath, int mode = 0x1ED) =>
        File(path, System.IO.File.ReadAllBytes(hostPath), mode);

    /// <summary>Adds a symbolic link.</summary>
    public LayerBuilder Symlink(string path, string target)
    {
        var p = Norm(path);
        EnsureParents(p);
        _entries.Add(() => Stamp(new UstarTarEntry(TarEntryType.SymbolicLink, p) { LinkName = target }, 0x1FF, 0, 0));
        return this;
    }

    /// <summary>Adds an overlay whiteout <c>dir/.wh.name</c> deleting <paramref name="path"/>.</summary>
    public LayerBuilder Whiteout(string path)
    {
        var p = Norm(path);
        var slash = p.LastIndexOf('/');
        var wh = slash < 0 ? ".wh." + p : p[..(slash + 1)] + ".wh." + p[(slash + 1)..];
        return File(wh, Array.Empty<byte>(), 0x1A4);
    }

    /// <summary>Makes <paramref name="dir"/> opaque (<c>dir/.wh..wh..opq</c>); add it before the dir's new content.</summary>
    public LayerBuilder Opaque(string dir)
    {
        Directory(dir);
        return File(Norm(dir) + "/.wh..wh..opq", Array.Empty<byte>(), 0x1A4);
    }

    /// <summary>Writes the tar, gzips it and returns the layer blob.</summary>
    public OciBlob Build(CompressionLevel level = CompressionLevel.Optimal)
    {
        using var compressed = new MemoryStream();
        using var diffHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (var gz = new GZipStream(compressed, level, leaveOpen: true))
        using (var tee = new HashingWriteStream(gz, diffHash))
        using (var tar = new TarWriter(tee, TarEntryFormat.Ustar, leaveOpen: true))
        {
            foreach (var make in _entries)
            {
                var entry = make();
                tar.WriteEntry(entry);
                entry.DataStream?.Dispose();
            }
        }
        var diffId = "sha256:" + Convert.ToHexString(diffHash.GetHashAndReset()).ToLowerInvariant();
        return new OciBlob(OciMediaTypes.LayerGzip, compressed.ToArray(), diffId);
    }

    private sealed class HashingWriteStream(Stream inner, IncrementalHash hash) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            hash.AppendData(buffer);
            inner.Write(buffer);
        }
    }
}
