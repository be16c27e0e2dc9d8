using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using CriSharp.Api.V1;
using CriSharp.Integration.Tests.Daemon;
using CriSharp.TestSupport;
using Grpc.Core;
using Grpc.Net.Client;

namespace CriSharp.Integration.Tests.Images;

/// <summary>An anonymous real registry with the default test images pushed; one per test class (IClassFixture).</summary>
public sealed class DefaultImagesRegistry : IAsyncLifetime
{
    public RegistryFixture Registry { get; private set; } = null!;
    /// <summary>Keyed "name:tag", as <see cref="TestImages.PushDefaultAsync(RegistryFixture,bool,CancellationToken)"/> returns them.</summary>
    public IReadOnlyDictionary<string, BuiltImage> Images { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Registry = await RegistryFixture.Anonymous();
        Images = await TestImages.PushDefaultAsync(Registry);
    }

    public async Task DisposeAsync() => await Registry.DisposeAsync();

    public BuiltImage this[string nameTag] => Images[nameTag];

    /// <summary>Pushes an image built by the test under crisharp-test/<paramref name="name"/>.</summary>
    public Task PushAsync(string name, OciImage image, params string[] tags) => ImageTests.PushAsync(Registry, name, image, tags);
}

/// <summary>A crisharp daemon (temp dir) with an ImageService client and views of its image store on disk.</summary>
public sealed class ImageDaemon : IDisposable
{
    readonly GrpcChannel _channel;

    ImageDaemon(DaemonProcess daemon)
    {
        Daemon = daemon;
        _channel = daemon.Channel();
        Client = new ImageService.ImageServiceClient(_channel);
    }

    public DaemonProcess Daemon { get; }
    public ImageService.ImageServiceClient Client { get; }
    public string Root => Path.Combine(Daemon.Dir, "root");
    public string LayersDir => Path.Combine(Root, "layers");
    public string BlobsDir => Path.Combine(Root, "blobs/sha256");
    public string IngestDir => Path.Combine(Root, "ingest");
    public string RecordsDir => Path.Combine(Root, "images");

    /// <summary>Starts a daemon with <paramref name="extraToml"/> (top-level keys, then tables) in a fresh dir, or in <paramref name="dir"/>.</summary>
    public static async Task<ImageDaemon> StartAsync(string extraToml = "", string? dir = null)
    {
        var daemon = new DaemonProcess(extraToml, dir);
        try
        {
            await daemon.StartServingAsync();
            return new ImageDaemon(daemon);
        }
        catch
        {
            if (dir == null) daemon.Dispose(); // also deletes the dir
            else if (daemon.Process is { HasExited: false } p) { p.Kill(); p.WaitForExit(); }
            throw;
        }
    }

    public async Task<string> PullAsync(string image, AuthConfig? auth = null, CancellationToken ct = default)
    {
        var request = new PullImageRequest { Image = new ImageSpec { Image = image } };
        if (auth != null) request.Auth = auth;
        return (await Client.PullImageAsync(request, cancellationToken: ct)).ImageRef;
    }

    /// <summary>Pulls and expects failure; returns the gRPC error.</summary>
    public async Task<RpcException> PullFailsAsync(string image, AuthConfig? auth = null)
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => PullAsync(image, auth));
        return e;
    }

    public async Task<IReadOnlyList<Image>> ListAsync(string? filter = null)
    {
        var request = new ListImagesRequest();
        if (filter != null) request.Filter = new ImageFilter { Image = new ImageSpec { Image = filter } };
        return (await Client.ListImagesAsync(request)).Images;
    }

    public async Task<IReadOnlyList<Image>> StreamAsync()
    {
        var list = new List<Image>();
        using var call = Client.StreamImages(new StreamImagesRequest());
        while (await call.ResponseStream.MoveNext(CancellationToken.None)) list.AddRange(call.ResponseStream.Current.Images);
        return list;
    }

    public async Task<Image?> StatusAsync(string image) =>
        (await Client.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = image } })).Image;

    /// <summary>The verbose info JSON of ImageStatus (manifestDigest, chainIds, manifest, config, ...).</summary>
    public async Task<JsonElement> VerboseInfoAsync(string image)
    {
        var response = await Client.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = image }, Verbose = true });
        Assert.NotNull(response.Image);
        return JsonDocument.Parse(response.Info["info"]).RootElement.Clone();
    }

    /// <summary>Chain ids (bottom first) from the verbose ImageStatus.</summary>
    public async Task<IReadOnlyList<string>> ChainIdsAsync(string image) =>
        [.. (await VerboseInfoAsync(image)).GetProperty("chainIds").EnumerateArray().Select(e => e.GetString()!)];

    public async Task RemoveAsync(string image) =>
        await Client.RemoveImageAsync(new RemoveImageRequest { Image = new ImageSpec { Image = image } });

    public string LayerPath(string chainId) => Path.Combine(LayersDir, Hex(chainId));
    public string BlobPath(string digest) => Path.Combine(BlobsDir, Hex(digest));

    /// <summary>Names of everything under root/layers (final layers, temp dirs, stray files).</summary>
    public IReadOnlyList<string> LayerEntries() => Entries(LayersDir);
    public IReadOnlyList<string> BlobEntries() => Entries(BlobsDir);
    public IReadOnlyList<string> RecordEntries() => Entries(RecordsDir);
    public IReadOnlyList<string> IngestEntries() => Entries(IngestDir);

    static IReadOnlyList<string> Entries(string dir) =>
        Directory.Exists(dir) ? [.. Directory.EnumerateFileSystemEntries(dir).Select(p => Path.GetFileName(p)!).Order(StringComparer.Ordinal)] : [];

    public static string Hex(string digest) => digest.StartsWith("sha256:", StringComparison.Ordinal) ? digest[7..] : digest;

    public void Dispose()
    {
        _channel.Dispose();
        Daemon.Dispose();
    }
}

public static class ImageTests
{
    /// <summary>Pushes a test-built image to the real registry under crisharp-test/<paramref name="name"/>.</summary>
    public static async Task PushAsync(RegistryFixture registry, string name, OciImage image, params string[] tags)
    {
        using var client = new CriSharp.TestSupport.RegistryClient(registry.BaseUri, registry.Credentials);
        await client.PushImageAsync(TestImages.Repository(name), image, tags.Length == 0 ? ["latest"] : tags, CancellationToken.None);
    }

    /// <summary>The image id a pull of <paramref name="image"/> must yield: its config digest (the linux/amd64 child's for an index).</summary>
    public static string ExpectedId(BuiltImage image) => image.IsIndex
        ? image.Children.Single(c => c.Platform is { Os: "linux", Architecture: "amd64" }).ConfigDigest!
        : image.ConfigDigest!;

    /// <summary>A gzip layer from raw tar entries written as given (no path cleaning), with its diff id.</summary>
    public static OciBlob RawLayer(params TarEntry[] entries)
    {
        using var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
            foreach (var e in entries) writer.WriteEntry(e);
        var tarBytes = tar.ToArray();
        using var gz = new MemoryStream();
        using (var z = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true)) z.Write(tarBytes);
        return new OciBlob(OciMediaTypes.LayerGzip, gz.ToArray(), OciBlob.Sha256Digest(tarBytes));
    }

    public static PaxTarEntry RawFile(string name, string content) => new(TarEntryType.RegularFile, name)
    {
        DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)),
        Mode = (UnixFileMode)0x1A4,
    };

    public static PaxTarEntry RawDir(string name) => new(TarEntryType.Directory, name) { Mode = (UnixFileMode)0x1ED };

    public static PaxTarEntry RawLink(TarEntryType type, string name, string target) => new(type, name) { LinkName = target };

    /// <summary>A file (e.g. the registry's access log) from <paramref name="offset"/> on.</summary>
    public static string ReadFrom(string path, long offset)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        f.Position = offset;
        return new StreamReader(f).ReadToEnd();
    }

    /// <summary>Runs a command, failing with its output when it exits non-zero.</summary>
    public static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {p.ExitCode}: {err.Result}{output}");
        return output;
    }
}
