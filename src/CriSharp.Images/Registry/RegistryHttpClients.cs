using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Serilog;

namespace CriSharp.Images.Registry;

/// <summary>
/// One pooled <see cref="HttpClient"/> per TLS-settings combination (skip verification, CA dir), so
/// connections are reused across pulls while hosts with different trust never share a handler.
/// </summary>
internal sealed class RegistryHttpClients(RegistryClientOptions options, ILogger log) : IDisposable
{
    private readonly ConcurrentDictionary<(bool SkipTlsVerify, string CaDir), Lazy<HttpClient>> _clients = new();

    /// <summary>The client for hosts with these TLS settings (created on first use).</summary>
    public HttpClient For(bool skipTlsVerify, string caDir) =>
        _clients.GetOrAdd((skipTlsVerify, caDir),
            key => new Lazy<HttpClient>(() => Create(key.SkipTlsVerify, key.CaDir), LazyThreadSafetyMode.ExecutionAndPublication)).Value;

    private HttpClient Create(bool skipTlsVerify, string caDir)
    {
        var handler = new SocketsHttpHandler
        {
            // Redirects are followed by hand so Authorization never reaches another host.
            AllowAutoRedirect = false,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            ConnectTimeout = options.ConnectTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90),
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
            UseCookies = false,
        };
        var extraRoots = skipTlsVerify || caDir.Length == 0 ? [] : LoadCaDir(caDir);
        handler.SslOptions.RemoteCertificateValidationCallback = skipTlsVerify
            ? (_, _, _, _) => true
            : extraRoots.Count == 0 ? null : (_, certificate, chain, errors) => ValidateWithExtraRoots(certificate, chain, errors, extraRoots);
        HttpMessageHandler outer = options.WrapHandler?.Invoke(handler) ?? handler;
        // Timeouts are per request (linked tokens) or by stall detection, never HttpClient's global one.
        return new HttpClient(outer, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>System trust failed: accept if the chain builds to one of the CA dir's roots (names must still match).</summary>
    private static bool ValidateWithExtraRoots(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors,
        X509Certificate2Collection extraRoots)
    {
        if (errors == SslPolicyErrors.None) return true;
        if (errors != SslPolicyErrors.RemoteCertificateChainErrors || certificate is null) return false;
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(extraRoots);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
            foreach (var element in chain.ChainElements) custom.ChainPolicy.ExtraStore.Add(element.Certificate);
        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return custom.Build(leaf);
    }

    /// <summary>Every certificate in <c>*.crt</c> files (PEM, possibly several per file, or DER).</summary>
    private X509Certificate2Collection LoadCaDir(string caDir)
    {
        var roots = new X509Certificate2Collection();
        if (!Directory.Exists(caDir))
        {
            log.Warning("Registry CA dir {CaDir} does not exist; using system roots only", caDir);
            return roots;
        }
        foreach (var file in Directory.EnumerateFiles(caDir, "*.crt").Order(StringComparer.Ordinal))
        {
            try
            {
                var before = roots.Count;
                roots.ImportFromPemFile(file);
                if (roots.Count == before) roots.Add(X509CertificateLoader.LoadCertificateFromFile(file));
            }
            catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
            {
                log.Warning("Skipping registry CA certificate {File}: {Error}", file, e.Message);
            }
        }
        log.Debug("Loaded {Count} registry CA certificate(s) from {CaDir}", roots.Count, caDir);
        return roots;
    }

    public void Dispose()
    {
        foreach (var client in _clients.Values)
            if (client.IsValueCreated) client.Value.Dispose();
        _clients.Clear();
    }
}
