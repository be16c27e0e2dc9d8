using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using CriSharp.Images.References;
using CriSharp.Images.Registry;
using CriSharp.TestSupport;

namespace CriSharp.Images.Tests;

// CriSharp.Images has its own ImageConfig; the test images use TestSupport's.
using ImageConfig = CriSharp.TestSupport.ImageConfig;

/// <summary>HTTPS registries: extra roots from ca_dir, insecure hosts, and no silent downgrade to HTTP.</summary>
public sealed class TlsRegistryTests : IAsyncLifetime
{
    private const string Repo = "crisharp-test/tiny";
    private static readonly OciImage Tiny = OciImage.Create([new LayerBuilder().File("tls", "tls\n").Build()], new ImageConfig());

    private readonly string _caDir = Directory.CreateTempSubdirectory("crisharp-images-ca-").FullName;
    private FakeRegistry _fake = null!;

    public async Task InitializeAsync()
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=crisharp test registry CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var ca = caRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(7));

        using var leafKey = RSA.Create(2048);
        var leafRequest = new CertificateRequest("CN=127.0.0.1", leafKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        leafRequest.CertificateExtensions.Add(san.Build());
        leafRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        leafRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        using var leafPublic = leafRequest.Create(ca, now.AddDays(-1), now.AddDays(7), RandomNumberGenerator.GetBytes(16));
        // Round-trip through PKCS#12 so the TLS stack gets a normal persisted-style key.
        var leaf = X509CertificateLoader.LoadPkcs12(leafPublic.CopyWithPrivateKey(leafKey).Export(X509ContentType.Pkcs12, ""), "");
        await File.WriteAllTextAsync(Path.Combine(_caDir, "registry-ca.crt"), ca.ExportCertificatePem());
        await File.WriteAllTextAsync(Path.Combine(_caDir, "ignored.txt"), "not a certificate");

        _fake = await FakeRegistry.StartAsync(leaf);
        _fake.Manifest(Repo, "latest", Tiny.ManifestBytes, OciMediaTypes.Manifest, Tiny.Digest);
        foreach (var blob in Tiny.AllBlobs()) _fake.Blob(Repo, blob.Digest, blob.Data);
    }

    public async Task DisposeAsync()
    {
        await _fake.DisposeAsync();
        Directory.Delete(_caDir, recursive: true);
    }

    private ImageReference Ref => ImageReference.Parse($"{_fake.Host}/{Repo}:latest");

    [Fact]
    public async Task Certificate_signed_by_a_ca_dir_root_is_trusted()
    {
        using var client = new TestClient(c => c.Registries.Hosts[_fake.Host] = new() { CaDir = _caDir });
        var image = await client.Client.ResolveAsync(Ref, null, default);
        Assert.Equal("https", image.Endpoint.BaseUri.Scheme);
        Assert.Equal(Tiny.Layers[0].Data, await client.FetchAsync(image, image.Layers[0]));
        Assert.All(client.Requests, u => Assert.Equal("https", u.Scheme));
    }

    [Fact]
    public async Task Unknown_ca_fails_and_plain_http_does_not_help()
    {
        using var client = new TestClient();
        var e = await Assert.ThrowsAsync<RegistryException>(() => client.Client.ResolveAsync(Ref, null, default));
        Assert.Equal(RegistryErrorKind.Network, e.Reason);
        Assert.Contains(_fake.Host, e.Message);
    }

    [Fact]
    public async Task Insecure_host_skips_verification()
    {
        using var client = new TestClient(c => c.Registries.Insecure.Add(_fake.Host));
        var image = await client.Client.ResolveAsync(Ref, null, default);
        Assert.Equal("https", image.Endpoint.BaseUri.Scheme);
        Assert.True(image.Endpoint.SkipTlsVerify);
    }

    [Fact]
    public async Task Ca_dir_does_not_excuse_a_name_mismatch()
    {
        // "localhost" is not in the certificate (only 127.0.0.1 is).
        var port = _fake.Host.Split(':')[1];
        using var client = new TestClient(c => c.Registries.Hosts[$"localhost:{port}"] = new() { CaDir = _caDir });
        var e = await Assert.ThrowsAsync<RegistryException>(() =>
            client.Client.ResolveAsync(ImageReference.Parse($"localhost:{port}/{Repo}:latest"), null, default));
        Assert.Equal(RegistryErrorKind.Network, e.Reason);
    }
}
