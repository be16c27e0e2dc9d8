using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Compression;
using System.Text;

namespace CriSharp.TestSupport;

/// <summary>What was pushed: references and every digest a test may want to check.</summary>
public sealed record BuiltImage(
    string Host,
    string Repository,
    string? Tag,
    string ManifestDigest,
    string MediaType,
    long ManifestSize,
    string? ConfigDigest,
    IReadOnlyList<string> LayerDigests,
    IReadOnlyList<string> DiffIds,
    IReadOnlyList<string> BlobDigests,
    IReadOnlyList<BuiltImage> Children,
    OciPlatform? Platform)
{
    /// <summary>"host/crisharp-test/name:tag" (the digest reference for untagged index children).</summary>
    public string Reference => Tag is null ? DigestReference : $"{Host}/{Repository}:{Tag}";
    /// <summary>"host/crisharp-test/name@sha256:...".</summary>
    public string DigestReference => $"{Host}/{Repository}@{ManifestDigest}";
    /// <summary>Repository without host ("crisharp-test/name").</summary>
    public string Name => Repository;
    public bool IsIndex => MediaType == OciMediaTypes.Index;

    internal static BuiltImage From(string host, string repo, string? tag, OciImage img, OciPlatform? platform = null) =>
        new(host, repo, tag, img.Digest, img.MediaType, img.ManifestBytes.LongLength,
            img.Config?.Digest,
            img.Layers.Select(l => l.Digest).ToArray(),
            img.Layers.Select(l => l.DiffId!).ToArray(),
            img.AllBlobs().Select(b => b.Digest).ToArray(),
            img.Children.Select(c => From(host, repo, null, c.Image, c.Platform)).ToArray(),
            platform);
}

/// <summary>
/// The OCI test images, built by our own code (deterministic tar + gzip + sha256) once per
/// process and pushed through the distribution API. Repositories live under
/// <c>crisharp-test/</c>. See README.md for what each image is for.
/// </summary>
public static class TestImages
{
    public const string RepositoryPrefix = "crisharp-test";

    public const string Busybox = "busybox";
    public const string BusyboxDyn = "busybox-dyn";
    public const string NonRoot = "nonroot";
    public const string Layered = "layered";
    public const string MultiArch = "multiarch";
    public const string TwoTags = "twotags";
    public const string Pause = "pause";
    /// <summary>≥200 MB, built only on request.</summary>
    public const string Large = "large";

    /// <summary>Images pushed by <see cref="PushDefaultAsync"/> (all but <see cref="Large"/>).</summary>
    public static readonly IReadOnlyList<string> DefaultImages = [Busybox, BusyboxDyn, NonRoot, Layered, MultiArch, TwoTags, Pause];

    /// <summary>Host file paths the images are made of (overridable by environment variables).</summary>
    public static string StaticBusyboxPath => Env("CRISHARP_BUSYBOX_STATIC", "/bin/busybox");
    public static string DynamicBusyboxDir => Env("CRISHARP_BUSYBOX_DYN_DIR", "/var/cache/crisharp/busybox-dyn");
    public static string CatatonitPath => Env("CRISHARP_CATATONIT", "/usr/bin/catatonit");

    /// <summary>Layer sizes of the large image: 4 × 52 MiB of pseudo-random data.</summary>
    public const int LargeLayerCount = 4;
    public const int LargeLayerBytes = 52 * 1024 * 1024;

    private static readonly ConcurrentDictionary<string, Lazy<OciImage>> Cache = new();
    private static readonly Lazy<OciBlob> BusyboxLayer = new(BuildBusyboxLayer);
    private static readonly Lazy<OciImage> BusyboxImage = new(() => OciImage.Create([BusyboxLayer.Value], new ImageConfig { Cmd = ["sh"] }));

    private static string Env(string name, string fallback) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : fallback;

    /// <summary>Tags an image is pushed under.</summary>
    public static IReadOnlyList<string> TagsOf(string name) => name == TwoTags ? ["v1", "v2"] : ["latest"];

    /// <summary>"crisharp-test/name".</summary>
    public static string Repository(string name) => $"{RepositoryPrefix}/{name}";

    /// <summary>The image content (built on first use, cached for the process).</summary>
    public static OciImage Get(string name) =>
        Cache.GetOrAdd(name, n => new Lazy<OciImage>(() => BuildImage(n), LazyThreadSafetyMode.ExecutionAndPublication)).Value;

    /// <summary>Describes what <see cref="PushAsync(RegistryFixture,string,CancellationToken)"/> produces, without pushing.</summary>
    public static IReadOnlyList<BuiltImage> Describe(string host, string name) =>
        TagsOf(name).Select(t => BuiltImage.From(host, Repository(name), t, Get(name))).ToArray();

    /// <summary>Pushes one image (under all its tags) to a fixture.</summary>
    public static Task<IReadOnlyList<BuiltImage>> PushAsync(RegistryFixture registry, string name, CancellationToken ct = default) =>
        PushAsync(registry.BaseUri, registry.Credentials, name, ct);

    /// <summary>Pushes one image (under all its tags) to any registry.</summary>
    public static async Task<IReadOnlyList<BuiltImage>> PushAsync(Uri registry, RegistryCredentials? credentials, string name,
        CancellationToken ct = default)
    {
        using var client = new RegistryClient(registry, credentials);
        return await PushAsync(client, name, ct).ConfigureAwait(false);
    }

    private static async Task<IReadOnlyList<BuiltImage>> PushAsync(RegistryClient client, string name, CancellationToken ct)
    {
        var image = await Task.Run(() => Get(name), ct).ConfigureAwait(false);
        await client.PushImageAsync(Repository(name), image, TagsOf(name), ct).ConfigureAwait(false);
        return Describe(client.BaseUri.Authority, name);
    }

    /// <summary>
    /// Pushes all <see cref="DefaultImages"/> (plus <see cref="Large"/> if asked) and returns them
    /// keyed by "name:tag" (e.g. "busybox:latest", "twotags:v2").
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, BuiltImage>> PushDefaultAsync(RegistryFixture registry,
        bool withLarge = false, CancellationToken ct = default) =>
        await PushDefaultAsync(registry.BaseUri, registry.Credentials, withLarge, ct).ConfigureAwait(false);

    /// <inheritdoc cref="PushDefaultAsync(RegistryFixture,bool,CancellationToken)"/>
    public static async Task<IReadOnlyDictionary<string, BuiltImage>> PushDefaultAsync(Uri registry, RegistryCredentials? credentials,
        bool withLarge = false, CancellationToken ct = default)
    {
        using var client = new RegistryClient(registry, credentials);
        var names = withLarge ? DefaultImages.Append(Large) : DefaultImages;
        var pushes = names.Select(n => PushAsync(client, n, ct)).ToArray();
        var result = new SortedDictionary<string, BuiltImage>(StringComparer.Ordinal);
        foreach (var list in await Task.WhenAll(pushes).ConfigureAwait(false))
            foreach (var b in list)
                result[$"{b.Repository[(RepositoryPrefix.Length + 1)..]}:{b.Tag}"] = b;
        return result;
    }

    private static OciImage BuildImage(string name) => name switch
    {
        Busybox => BusyboxImage.Value,
        BusyboxDyn => BuildBusyboxDyn(),
        NonRoot => BuildNonRoot(),
        Layered => BuildLayered(),
        MultiArch => BuildMultiArch(),
        TwoTags => BuildTwoTags(),
        Pause => BuildPause(),
        Large => BuildLarge(),
        _ => throw new ArgumentException($"unknown test image '{name}'", nameof(name)),
    };

    internal const string RootPasswd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    internal const string RootGroup = "root:x:0:\nnogroup:x:65534:\n";

    private static LayerBuilder RootfsSkeleton() => new LayerBuilder()
        .Directory("bin").Directory("dev").Directory("etc").Directory("home").Directory("proc")
        .Directory("root", 0x1C0 /* 0700 */).Directory("sys").Directory("tmp", 0x3FF /* 1777 */)
        .Directory("usr/bin").Directory("var")
        .File("etc/passwd", RootPasswd).File("etc/group", RootGroup)
        .File("etc/hostname", "crisharp-test\n");

    private static void AddApplets(LayerBuilder layer, string busybox, IReadOnlySet<string>? except = null)
    {
        foreach (var applet in RunLines(busybox, "--list").Where(a => a.Length > 0 && a != "busybox" && !a.Contains('/')).Order(StringComparer.Ordinal))
            if (except is null || !except.Contains(applet)) layer.Symlink("bin/" + applet, "busybox");
        // Scripts with "#!/usr/bin/env" work too.
        layer.Symlink("usr/bin/env", "../../bin/busybox");
    }

    private static OciBlob BuildBusyboxLayer()
    {
        var busybox = StaticBusyboxPath;
        if (!File.Exists(busybox))
            throw new InvalidOperationException($"{busybox} not found: install Debian package busybox-static (hack/install-deps.sh)");
        if (!Elf.IsStatic(busybox))
            throw new InvalidOperationException($"{busybox} is not statically linked; the busybox test image needs busybox-static");
        var layer = RootfsSkeleton().HostFile("bin/busybox", busybox, 0x1ED);
        AddApplets(layer, busybox);
        return layer.Build();
    }

    private static OciImage BuildBusyboxDyn() => OciImage.Create([DynamicBusyboxLayer().Build()], new ImageConfig { Cmd = ["sh"] });

    /// <summary>
    /// A rootfs with Debian's dynamic busybox, its libraries and applet links, plus copies of the host
    /// binaries <paramref name="hostBinaries"/> (e.g. /usr/bin/pgrep) with the libraries they need.
    /// </summary>
    internal static LayerBuilder DynamicBusyboxLayer(params string[] hostBinaries) => DynamicBusyboxLayer([], hostBinaries);

    /// <summary>
    /// As above; the applets in <paramref name="ownCopies"/> get a copy of busybox of their own instead of a symlink,
    /// so that masking one (a /dev/null bind over /bin/ls follows a symlink) leaves busybox and the shell alone.
    /// </summary>
    internal static LayerBuilder DynamicBusyboxLayer(IReadOnlyList<string> ownCopies, params string[] hostBinaries)
    {
        var busybox = Path.Combine(DynamicBusyboxDir, "bin/busybox");
        if (!File.Exists(busybox))
            throw new InvalidOperationException($"{busybox} not found: hack/install-deps.sh unpacks Debian's dynamic busybox there");
        var layer = RootfsSkeleton().HostFile("bin/busybox", busybox, 0x1ED);
        var libs = new SortedSet<string>(SharedLibraries(busybox), StringComparer.Ordinal);
        foreach (var binary in hostBinaries)
        {
            if (!File.Exists(binary)) throw new InvalidOperationException($"{binary} not found on the host (hack/install-deps.sh installs it)");
            layer.HostFile(binary.TrimStart('/'), binary, 0x1ED);
            libs.UnionWith(SharedLibraries(binary));
        }
        foreach (var lib in libs)
            layer.HostFile(lib.TrimStart('/'), lib, 0x1ED);
        foreach (var applet in ownCopies)
            layer.HostFile("bin/" + applet, busybox, 0x1ED);
        AddApplets(layer, busybox, hostBinaries.Select(Path.GetFileName).Concat(ownCopies).ToHashSet(StringComparer.Ordinal)!);
        return layer;
    }

    /// <summary>Absolute paths of the shared libraries and ELF interpreter `ldd` reports for a binary.</summary>
    public static IReadOnlyList<string> SharedLibraries(string binary)
    {
        var libs = new List<string>();
        foreach (var line in RunLines("ldd", binary))
        {
            var l = line.Trim();
            var arrow = l.IndexOf("=>", StringComparison.Ordinal);
            var path = (arrow >= 0 ? l[(arrow + 2)..] : l).Trim();
            var paren = path.IndexOf(" (", StringComparison.Ordinal);
            if (paren >= 0) path = path[..paren];
            if (path.StartsWith('/') && File.Exists(path)) libs.Add(path);
        }
        if (libs.Count == 0) throw new InvalidOperationException($"ldd {binary} listed no libraries");
        return libs.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
    }

    private static OciImage BuildNonRoot()
    {
        var layer = new LayerBuilder()
            .File("etc/passwd", RootPasswd + "app:x:1000:1000:app:/home/app:/bin/sh\n")
            .File("etc/group", RootGroup + "app:x:1000:\nextra:x:2000:app\n")
            .Directory("home/app", 0x1ED, 1000, 1000)
            .Build();
        return OciImage.Create([BusyboxLayer.Value, layer], new ImageConfig { User = "app", Cmd = ["id"] });
    }

    private static OciImage BuildLayered()
    {
        var l2 = new LayerBuilder()
            .File("data/a", "a from layer 2\n")
            .File("data/b", "b from layer 2\n")
            .File("data/dir/x", "x from layer 2\n")
            .File("opaque/old", "old from layer 2\n")
            .Build();
        var l3 = new LayerBuilder()
            .Directory("data")
            .Whiteout("data/a")
            .File("data/b", "b from layer 3\n")
            .Opaque("opaque")
            .File("opaque/new", "new from layer 3\n")
            .Build();
        return OciImage.Create([BusyboxLayer.Value, l2, l3], new ImageConfig { Cmd = ["sh"] });
    }

    private static OciImage BuildMultiArch()
    {
        var amd64 = BusyboxImage.Value;
        var arm64Layer = new LayerBuilder().File("arm64-marker", "linux/arm64\n").Build();
        var arm64 = OciImage.Create([arm64Layer], new ImageConfig
        {
            Platform = new OciPlatform("linux", "arm64", "v8"),
            Cmd = ["/arm64-marker"],
        });
        return OciImage.CreateIndex([(amd64, new OciPlatform("linux", "amd64")), (arm64, new OciPlatform("linux", "arm64", "v8"))]);
    }

    private static OciImage BuildTwoTags()
    {
        var marker = new LayerBuilder().File("etc/twotags", "twotags\n").Build();
        return OciImage.Create([BusyboxLayer.Value, marker], new ImageConfig
        {
            Cmd = ["sh"],
            Labels = new Dictionary<string, string> { ["org.crisharp.test"] = "twotags" },
        });
    }

    private static OciImage BuildPause()
    {
        var catatonit = CatatonitPath;
        if (File.Exists(catatonit) && Elf.IsStatic(catatonit))
        {
            var layer = new LayerBuilder().HostFile("usr/bin/catatonit", catatonit, 0x1ED).Build();
            return OciImage.Create([layer], new ImageConfig
            {
                Env = [],
                Entrypoint = ["/usr/bin/catatonit", "-P"],
                StopSignal = "SIGTERM",
                Labels = new Dictionary<string, string> { ["org.crisharp.test.pause"] = "catatonit" },
            });
        }
        // Fallback: static busybox sleeping "forever".
        var fallback = new LayerBuilder().HostFile("bin/busybox", StaticBusyboxPath, 0x1ED).Symlink("bin/sleep", "busybox").Build();
        return OciImage.Create([fallback], new ImageConfig
        {
            Env = [],
            Entrypoint = ["/bin/sleep", "2147483647"],
            Labels = new Dictionary<string, string> { ["org.crisharp.test.pause"] = "busybox-sleep" },
        });
    }

    private static OciImage BuildLarge()
    {
        var layers = new List<OciBlob> { BusyboxLayer.Value };
        // Sequential on purpose: each layer holds ~2 × 52 MiB while being built.
        for (int n = 0; n < LargeLayerCount; n++)
        {
            var i = n;
            layers.Add(new LayerBuilder().File($"large/blob-{i}.bin", () =>
            {
                var data = new byte[LargeLayerBytes];
                new Random(7919 + i).NextBytes(data);
                return new MemoryStream(data, writable: false);
            }).Build(CompressionLevel.Fastest));
        }
        return OciImage.Create(layers, new ImageConfig { Cmd = ["sh"] });
    }

    internal static string[] RunLines(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot run {file}");
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {err.Result}");
        return output.Split('\n', StringSplitOptions.TrimEntries);
    }
}

/// <summary>Tiny ELF reader: is a binary statically linked (no PT_INTERP)?</summary>
public static class Elf
{
    public static bool IsStatic(string path)
    {
        using var fs = File.OpenRead(path);
        using var r = new BinaryReader(fs, Encoding.ASCII);
        var ident = r.ReadBytes(16);
        if (ident.Length < 16 || ident[0] != 0x7f || ident[1] != 'E' || ident[2] != 'L' || ident[3] != 'F')
            throw new InvalidOperationException($"{path} is not an ELF file");
        if (ident[4] != 2 || ident[5] != 1) throw new InvalidOperationException($"{path}: only 64-bit little-endian ELF is supported");
        fs.Position = 0x20;
        var phoff = r.ReadInt64();
        fs.Position = 0x36;
        var phentsize = r.ReadUInt16();
        var phnum = r.ReadUInt16();
        for (int i = 0; i < phnum; i++)
        {
            fs.Position = phoff + (long)i * phentsize;
            if (r.ReadUInt32() == 3 /* PT_INTERP */) return false;
        }
        return true;
    }
}
