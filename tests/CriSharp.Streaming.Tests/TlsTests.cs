using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using CriSharp.TestSupport.Streaming;

namespace CriSharp.Streaming.Tests;

/// <summary>With tls_cert and tls_key the server speaks HTTPS and hands out https URLs.</summary>
public sealed class TlsTests
{
    [Fact]
    public async Task Tls_serves_https_urls_and_a_websocket_exec_over_them()
    {
        var dir = Directory.CreateTempSubdirectory("crisharp-stream-tls-");
        try
        {
            using var key = RSA.Create(2048);
            var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
            var certPath = Path.Combine(dir.FullName, "tls.crt");
            var keyPath = Path.Combine(dir.FullName, "tls.key");
            await File.WriteAllTextAsync(certPath, cert.ExportCertificatePem());
            await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem());

            await using var h = await StreamingHarness.StartAsync(tlsCert: certPath, tlsKey: keyPath);
            var url = h.Exec("exit 4");
            Assert.Equal("https", url.Scheme);
            var (ws, _) = await TestChannelWebSocketClient.ConnectAsync(url, ["v4.channel.k8s.io"],
                o => o.RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == cert.GetCertHashString());
            await using var c = ws!;
            Assert.Equal("exiting\n", await c.ReadToEndTextAsync(1));
            Assert.Contains("\"message\":\"4\"", await c.ReadToEndTextAsync(3));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
