using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace CriSharp.TestSupport;

/// <summary>How a <see cref="RegistryFixture"/> authenticates clients.</summary>
public enum RegistryVariant
{
    /// <summary>No authentication at all.</summary>
    Anonymous,
    /// <summary>HTTP Basic against an htpasswd (bcrypt) file.</summary>
    BasicAuth,
    /// <summary>Docker token auth: Bearer JWTs issued by our own <see cref="TokenServer"/>.</summary>
    TokenAuth,
}

/// <summary>
/// A real distribution registry (<c>docker-registry serve</c>, Debian's distribution 2.8) on
/// 127.0.0.1 with storage in a fresh temp dir. Dispose stops the process (SIGTERM, then kill)
/// and deletes the temp dir; nothing is left behind, also when start fails.
/// </summary>
public sealed class RegistryFixture : IDisposable, IAsyncDisposable
{
    /// <summary>Default user name for the basic and token variants.</summary>
    public const string DefaultUser = "crisharp";
    /// <summary>Default password for the basic and token variants.</summary>
    public const string DefaultPassword = "crisharp-secret";
    /// <summary>The <c>service</c> name the registry announces and the token audience.</summary>
    public const string TokenService = "crisharp-test-registry";

    private static readonly ConcurrentDictionary<RegistryFixture, byte> Live = new();
    private static int _exitHookInstalled;

    private readonly Process _process;
    private readonly string _tempDir;
    private int _disposed;

    private RegistryFixture(RegistryVariant variant, int port, string tempDir, Process process,
        string logPath, string? user, string? password, TokenServer? tokenServer)
    {
        Variant = variant;
        Port = port;
        _tempDir = tempDir;
        _process = process;
        LogPath = logPath;
        User = user;
        Password = password;
        TokenServer = tokenServer;
    }

    /// <summary>Authentication variant.</summary>
    public RegistryVariant Variant { get; }
    /// <summary>TCP port on 127.0.0.1.</summary>
    public int Port { get; }
    /// <summary>"127.0.0.1:port", the registry host part of image references.</summary>
    public string Host => $"127.0.0.1:{Port}";
    /// <summary>http://127.0.0.1:port/</summary>
    public Uri BaseUri => new($"http://{Host}/");
    /// <summary>File that receives the registry's stdout and stderr.</summary>
    public string LogPath { get; }
    /// <summary>The fixture's temp dir (config, storage, htpasswd, certs, log).</summary>
    public string TempDir => _tempDir;
    /// <summary>Accepted user (basic and token variants), else null.</summary>
    public string? User { get; }
    /// <summary>Password of <see cref="User"/>, else null.</summary>
    public string? Password { get; }
    /// <summary>The token server the registry trusts (token variant only; owned by this fixture).</summary>
    public TokenServer? TokenServer { get; }
    /// <summary>Process id of docker-registry.</summary>
    public int ProcessId => _process.Id;

    /// <summary>Credentials to push/pull with, null for the anonymous variant.</summary>
    public RegistryCredentials? Credentials => User is null ? null : new RegistryCredentials(User, Password ?? "");

    /// <summary>Starts an unauthenticated registry.</summary>
    public static Task<RegistryFixture> Anonymous(int port = 0, CancellationToken ct = default) =>
        StartAsync(RegistryVariant.Anonymous, port, ct: ct);

    /// <summary>Starts a registry behind HTTP Basic auth (htpasswd, bcrypt).</summary>
    public static Task<RegistryFixture> BasicAuth(int port = 0, string user = DefaultUser,
        string password = DefaultPassword, CancellationToken ct = default) =>
        StartAsync(RegistryVariant.BasicAuth, port, user, password, ct: ct);

    /// <summary>Starts a registry behind Docker token auth served by a fresh <see cref="TokenServer"/>.</summary>
    public static Task<RegistryFixture> TokenAuth(int port = 0, string user = DefaultUser,
        string password = DefaultPassword, bool allowAnonymousPull = false,
        TokenSigningMode signingMode = TokenSigningMode.X5c, CancellationToken ct = default) =>
        StartAsync(RegistryVariant.TokenAuth, port, user, password,
            new TokenServerOptions
            {
                Users = new Dictionary<string, string> { [user] = password },
                AllowAnonymousPull = allowAnonymousPull,
                SigningMode = signingMode,
                Service = TokenService,
            }, ct);

    /// <summary>Starts a registry of the given variant. Port 0 picks a free port.</summary>
    public static async Task<RegistryFixture> StartAsync(RegistryVariant variant, int port = 0,
        string user = DefaultUser, string password = DefaultPassword,
        TokenServerOptions? tokenOptions = null, CancellationToken ct = default)
    {
        var binary = FindRegistryBinary();
        // A picked free port can be stolen between probe and bind: retry with a new one.
        int attempts = port == 0 ? 3 : 1;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(binary, variant, port == 0 ? FreePort() : port,
                    user, password, tokenOptions, ct).ConfigureAwait(false);
            }
            catch (RegistryStartException e) when (attempt < attempts && e.AddressInUse)
            {
            }
        }
    }

    /// <summary>Locates docker-registry ($CRISHARP_DOCKER_REGISTRY, /usr/bin, PATH) or throws loudly.</summary>
    public static string FindRegistryBinary()
    {
        var env = Environment.GetEnvironmentVariable("CRISHARP_DOCKER_REGISTRY");
        if (!string.IsNullOrEmpty(env))
        {
            if (File.Exists(env)) return env;
            throw new InvalidOperationException(
                $"CRISHARP_DOCKER_REGISTRY={env} does not exist; install Debian package docker-registry (hack/install-deps.sh)");
        }
        if (File.Exists("/usr/bin/docker-registry")) return "/usr/bin/docker-registry";
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var p = Path.Combine(dir, "docker-registry");
            if (File.Exists(p)) return p;
        }
        throw new InvalidOperationException(
            "docker-registry binary not found (looked at $CRISHARP_DOCKER_REGISTRY, /usr/bin/docker-registry and PATH). " +
            "Registry tests need the real distribution registry: install Debian package docker-registry (hack/install-deps.sh).");
    }

    private static async Task<RegistryFixture> StartOnceAsync(string binary, RegistryVariant variant, int port,
        string user, string password, TokenServerOptions? tokenOptions, CancellationToken ct)
    {
        var tempDir = Directory.CreateTempSubdirectory("crisharp-registry-").FullName;
        TokenServer? tokenServer = null;
        Process? process = null;
        var logPath = Path.Combine(tempDir, "registry.log");
        try
        {
            var storage = Path.Combine(tempDir, "storage");
            Directory.CreateDirectory(storage);
            var config = new StringBuilder();
            config.Append($"""
                version: 0.1
                log:
                  level: info
                  accesslog:
                    disabled: false
                  formatter: text
                storage:
                  filesystem:
                    rootdirectory: {storage}
                  delete:
                    enabled: true
                  cache:
                    blobdescriptor: inmemory
                  maintenance:
                    uploadpurging:
                      enabled: false
                http:
                  addr: 127.0.0.1:{port}
                  secret: crisharp-test-secret-{Guid.NewGuid():N}
                  headers:
                    X-Content-Type-Options: [nosniff]

                """);
            switch (variant)
            {
                case RegistryVariant.BasicAuth:
                    {
                        var htpasswd = Path.Combine(tempDir, "htpasswd");
                        await File.WriteAllTextAsync(htpasswd, await MakeHtpasswdLineAsync(user, password, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
                        config.Append($"""
                        auth:
                          htpasswd:
                            realm: crisharp-test
                            path: {htpasswd}

                        """);
                        break;
                    }
                case RegistryVariant.TokenAuth:
                    {
                        var opts = tokenOptions ?? new TokenServerOptions
                        {
                            Users = new Dictionary<string, string> { [user] = password },
                            Service = TokenService,
                        };
                        tokenServer = await TokenServer.StartAsync(opts, ct).ConfigureAwait(false);
                        var bundle = Path.Combine(tempDir, "token-root.pem");
                        await File.WriteAllTextAsync(bundle, tokenServer.RootCertificatePem, ct).ConfigureAwait(false);
                        config.Append($"""
                        auth:
                          token:
                            realm: {tokenServer.Realm}
                            service: {opts.Service}
                            issuer: {opts.Issuer}
                            rootcertbundle: {bundle}

                        """);
                        break;
                    }
            }
            var configPath = Path.Combine(tempDir, "config.yml");
            await File.WriteAllTextAsync(configPath, config.ToString(), ct).ConfigureAwait(false);

            // The registry writes to a log file through a shell redirect, so its output never
            // blocks on a pipe nobody reads and survives for diagnosis.
            var psi = new ProcessStartInfo("/bin/sh")
            {
                UseShellExecute = false,
                RedirectStandardOutput = false,
                RedirectStandardError = false,
            };
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add("exec \"$0\" serve \"$1\" >>\"$2\" 2>&1 </dev/null");
            psi.ArgumentList.Add(binary);
            psi.ArgumentList.Add(configPath);
            psi.ArgumentList.Add(logPath);
            process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {binary}");

            await WaitReadyAsync(process, port, logPath, ct).ConfigureAwait(false);
            var fixture = new RegistryFixture(variant, port, tempDir, process, logPath,
                variant == RegistryVariant.Anonymous ? null : user,
                variant == RegistryVariant.Anonymous ? null : password, tokenServer);
            Track(fixture);
            return fixture;
        }
        catch
        {
            if (process is not null) StopProcess(process);
            if (tokenServer is not null) await tokenServer.DisposeAsync().ConfigureAwait(false);
            TryDeleteDir(tempDir);
            throw;
        }
    }

    private static async Task WaitReadyAsync(Process process, int port, string logPath, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (process.HasExited)
            {
                var log = ReadLog(logPath);
                throw new RegistryStartException(
                    $"docker-registry exited with code {process.ExitCode} before answering /v2/ on port {port}. Log ({logPath}):\n{log}",
                    log.Contains("address already in use", StringComparison.OrdinalIgnoreCase));
            }
            // "listening on" is logged only after our process bound the port, so a foreign
            // server already on that port is never mistaken for ours.
            if (!ReadLog(logPath).Contains($"listening on 127.0.0.1:{port}", StringComparison.Ordinal))
            {
                await Task.Delay(50, ct).ConfigureAwait(false);
                if (deadline.Elapsed > TimeSpan.FromSeconds(30))
                    throw new RegistryStartException(
                        $"docker-registry did not start listening on port {port} within 30s. Log ({logPath}):\n{ReadLog(logPath)}", false);
                continue;
            }
            try
            {
                using var resp = await http.GetAsync($"http://127.0.0.1:{port}/v2/", ct).ConfigureAwait(false);
                if (resp.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized
                    && resp.Headers.TryGetValues("Docker-Distribution-Api-Version", out _))
                    return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested) { }
            if (deadline.Elapsed > TimeSpan.FromSeconds(30))
                throw new RegistryStartException(
                    $"docker-registry did not answer /v2/ on port {port} within 30s. Log ({logPath}):\n{ReadLog(logPath)}", false);
            await Task.Delay(50, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Last part of the registry log (for assertion messages).</summary>
    public string ReadLog() => ReadLog(LogPath);

    private static string ReadLog(string path)
    {
        try
        {
            var text = File.ReadAllText(path);
            return text.Length > 8000 ? "...\n" + text[^8000..] : text;
        }
        catch (Exception e) { return $"<no log: {e.Message}>"; }
    }

    /// <summary>One htpasswd line with a bcrypt hash, made by <c>htpasswd -Bbn</c>.</summary>
    public static async Task<string> MakeHtpasswdLineAsync(string user, string password, CancellationToken ct = default)
    {
        var psi = new ProcessStartInfo("htpasswd")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-Bbn", user, password }) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("htpasswd not found: install Debian package apache2-utils (hack/install-deps.sh)", e);
        }
        using (p)
        {
            var stdout = p.StandardOutput.ReadToEndAsync(ct);
            var stderr = p.StandardError.ReadToEndAsync(ct);
            await p.WaitForExitAsync(ct).ConfigureAwait(false);
            if (p.ExitCode != 0)
                throw new InvalidOperationException($"htpasswd failed ({p.ExitCode}): {await stderr.ConfigureAwait(false)}");
            return (await stdout.ConfigureAwait(false)).Trim() + "\n";
        }
    }

    /// <summary>A port that was free a moment ago on 127.0.0.1.</summary>
    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "kill")]
    private static extern int SysKill(int pid, int sig);

    private const int SIGTERM = 15;

    private static void StopProcess(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                SysKill(process.Id, SIGTERM);
                if (!process.WaitForExit(5000))
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(5000);
                }
            }
        }
        catch (InvalidOperationException) { }
        catch (System.ComponentModel.Win32Exception) { }
        finally { process.Dispose(); }
    }

    private static void TryDeleteDir(string dir)
    {
        for (int i = 0; i < 3; i++)
        {
            try
            {
                if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
                return;
            }
            catch (IOException) { Thread.Sleep(100); }
            catch (UnauthorizedAccessException) { Thread.Sleep(100); }
        }
    }

    private static void Track(RegistryFixture f)
    {
        Live[f] = 0;
        if (Interlocked.Exchange(ref _exitHookInstalled, 1) == 0)
        {
            // Last line of defence: a test host that exits without disposing still stops registries.
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                foreach (var live in Live.Keys) live.Dispose();
            };
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Live.TryRemove(this, out _);
        StopProcess(_process);
        TokenServer?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        TryDeleteDir(_tempDir);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public override string ToString() => $"registry {Variant} at {Host}";

    private sealed class RegistryStartException(string message, bool addressInUse) : Exception(message)
    {
        public bool AddressInUse { get; } = addressInUse;
    }
}

/// <summary>User name and password for a registry (basic) or its token server.</summary>
public sealed record RegistryCredentials(string User, string Password);
