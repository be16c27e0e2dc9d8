using System.Diagnostics;
using CriSharp.Api.V1;
using CriSharp.Conformance.RawHttp2;
using Google.Protobuf;

namespace CriSharp.Integration.Tests.Daemon;

/// <summary>
/// Old grpc-go clients (kubelet/crictl before 1.29) send the socket path as :authority. A real
/// grpc-go 1.33 client built from Debian's sources must get an answer, as must every HPACK encoding.
/// </summary>
public sealed class AuthorityCompatTests : IAsyncLifetime
{
    readonly DaemonProcess _daemon = new();

    public Task InitializeAsync() => _daemon.StartServingAsync();

    public Task DisposeAsync()
    {
        _daemon.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_real_grpc_go_1_33_client_dialling_the_socket_path_gets_version()
    {
        var work = Path.Combine(_daemon.Dir, "go");
        var client = Path.Combine(work, "go-authority-client");
        var (buildCode, buildOut) = await Run("bash", [Path.Combine(DaemonProcess.RepoRoot(), "hack/build-go-client.sh"), client],
            ("GOCACHE", Path.Combine(work, "cache")));
        Assert.True(buildCode == 0, $"building the grpc-go client failed (is golang-google-grpc-dev installed?):\n{buildOut}");

        var (code, output) = await Run(client, [_daemon.Socket]);
        Assert.True(code == 0, $"grpc-go client failed:\n{output}\ndaemon:\n{_daemon.Stderr}");
        Assert.Contains("runtime_name=crisharp runtime_api_version=v1", output);
        // Go's build cache is read-only files; make sure the temp dir can be removed.
        await Run("chmod", ["-R", "u+w", work]);
    }

    [Theory]
    [InlineData(false, false, 16384, 0)]
    [InlineData(true, false, 16384, 0)]
    [InlineData(true, true, 16384, 0)]
    [InlineData(false, true, 7, 0)]
    [InlineData(true, true, 5, 9)]
    public async Task Every_hpack_encoding_of_a_path_authority_is_answered(bool huffman, bool dynamicTable, int fragment, byte pad)
    {
        var request = new VersionRequest { Version = "v1" }.ToByteArray();
        var results = await RawGrpcClient.UnaryCallsAsync(_daemon.Socket, "/runtime.v1.RuntimeService/Version", request,
            new RawHttp2Options(_daemon.Socket, huffman, dynamicTable, fragment, pad), count: 3, CancellationToken.None);
        Assert.Equal(3, results.Count);
        foreach (var r in results)
        {
            Assert.Equal(200, r.HttpStatus);
            Assert.Equal(0, r.GrpcStatus);
            Assert.Equal("crisharp", VersionResponse.Parser.ParseFrom(r.ResponseMessage).RuntimeName);
        }
    }

    static async Task<(int, string)> Run(string file, string[] args, params (string, string)[] env)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await stdout + await stderr);
    }
}
