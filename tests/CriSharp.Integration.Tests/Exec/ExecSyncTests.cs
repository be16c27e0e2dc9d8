using System.Diagnostics;
using System.Net.Sockets;
using CriSharp.Api.V1;
using CriSharp.Integration.Tests.Daemon;
using CriSharp.Linux;
using CriSharp.TestSupport;
using Grpc.Core;
using Grpc.Net.Client;

namespace CriSharp.Integration.Tests.Exec;

/// <summary>ExecSync through the daemon's socket on real runc/crun containers: output, exit codes, the process it runs as, timeout, output cap, background children.</summary>
public sealed class ExecSyncTests : IAsyncLifetime
{
    readonly DaemonProcess _daemon = new();
    RegistryFixture _registry = null!;
    IReadOnlyDictionary<string, BuiltImage> _images = null!;
    RuntimeService.RuntimeServiceClient _runtime = null!;
    readonly Dictionary<string, string> _running = [];

    public async Task InitializeAsync()
    {
        _registry = await RegistryFixture.Anonymous();
        _images = await TestImages.PushDefaultAsync(_registry);
        await _daemon.StartServingAsync();
        var channel = BigChannel(_daemon.Socket);
        _runtime = new RuntimeService.RuntimeServiceClient(channel);
        await new ImageService.ImageServiceClient(channel).PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = Busybox } });
    }

    public async Task DisposeAsync()
    {
        var leftovers = Mounts.ReadMountInfo().Where(m => m.MountPoint.StartsWith(_daemon.Dir, StringComparison.Ordinal)).ToList();
        _daemon.Dispose();
        await _registry.DisposeAsync();
        foreach (var m in leftovers) Mounts.Unmount(m.MountPoint, detach: true);
    }

    string Busybox => _images["busybox:latest"].Reference;

    /// <summary>A client with kubelet's and crictl's receive limit: 16 MiB for the whole ExecSync reply.</summary>
    static GrpcChannel BigChannel(string socket) =>
        GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, ct) =>
                {
                    var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    try
                    {
                        await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), ct);
                        return new NetworkStream(s, ownsSocket: true);
                    }
                    catch
                    {
                        s.Dispose();
                        throw;
                    }
                },
            },
            MaxReceiveMessageSize = 16 * 1024 * 1024,
        });

    /// <summary>A running busybox `sleep 3600` (cwd /tmp, FOO=bar, uid 1234) in its own pod, one per handler.</summary>
    async Task<string> RunningContainer(string handler)
    {
        if (_running.TryGetValue(handler, out var id)) return id;
        var config = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = "exec-" + handler, Uid = Guid.NewGuid().ToString(), Namespace = "it" },
            Hostname = "exec-" + handler,
            LogDirectory = Path.Combine(_daemon.Dir, "logs", handler),
        };
        var pod = (await _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config, RuntimeHandler = handler })).PodSandboxId;
        var ctr = new ContainerConfig
        {
            Metadata = new ContainerMetadata { Name = "sleeper" },
            Image = new ImageSpec { Image = Busybox },
            Command = { "sleep", "3600" },
            WorkingDir = "/tmp",
            Envs = { new KeyValue { Key = "FOO", Value = "bar" } },
            Linux = new LinuxContainerConfig { SecurityContext = new LinuxContainerSecurityContext { RunAsUser = new Int64Value { Value = 1234 } } },
            LogPath = "sleeper.log",
        };
        id = (await _runtime.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = pod, Config = ctr, SandboxConfig = config })).ContainerId;
        await _runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        _running[handler] = id;
        return id;
    }

    Task<ExecSyncResponse> Exec(string id, long timeout, params string[] cmd) =>
        _runtime.ExecSyncAsync(new ExecSyncRequest { ContainerId = id, Cmd = { cmd }, Timeout = timeout }).ResponseAsync;

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Output_exit_code_and_the_containers_process_settings(string handler)
    {
        var id = await RunningContainer(handler);
        var r = await Exec(id, 10, "sh", "-c", "echo out; echo err >&2; exit 4");
        Assert.Equal("out\n", r.Stdout.ToStringUtf8());
        Assert.Equal("err\n", r.Stderr.ToStringUtf8());
        Assert.Equal(4, r.ExitCode);

        // runc and crun differ in what `exec` inherits by default; the container's user, env and cwd must hold for both.
        r = await Exec(id, 10, "sh", "-c", "pwd; echo $FOO; id -u");
        Assert.Equal("/tmp\nbar\n1234\n", r.Stdout.ToStringUtf8());
        Assert.Equal(0, r.ExitCode);

        r = await Exec(id, 0, "true");
        Assert.Equal(0, r.ExitCode);
        Assert.True(r.Stdout.IsEmpty && r.Stderr.IsEmpty);

        // A short id prefix works as elsewhere.
        Assert.Equal("x\n", (await Exec(id[..12], 10, "echo", "x")).Stdout.ToStringUtf8());
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task A_timeout_kills_the_command_and_its_children(string handler)
    {
        var id = await RunningContainer(handler);
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<RpcException>(() => Exec(id, 1, "sleep", "100"));
        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);
        Assert.InRange(sw.Elapsed.TotalSeconds, 0.9, 4);

        // A tree: the shell and both sleeps (one in the background) go.
        e = await Assert.ThrowsAsync<RpcException>(() => Exec(id, 1, "sh", "-c", "sleep 101 & sleep 102; echo never"));
        Assert.Equal(StatusCode.DeadlineExceeded, e.StatusCode);

        var ps = (await Exec(id, 10, "ps", "-o", "pid,args")).Stdout.ToStringUtf8();
        Assert.DoesNotContain("sleep 100", ps);
        Assert.DoesNotContain("sleep 101", ps);
        Assert.DoesNotContain("sleep 102", ps);
        Assert.Contains("sleep 3600", ps);
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Output_of_both_streams_is_capped_so_the_reply_fits_a_16_MiB_client(string handler)
    {
        var id = await RunningContainer(handler);
        var sw = Stopwatch.StartNew();
        var r = await Exec(id, 60, "sh", "-c", "head -c 20000000 /dev/zero; head -c 20000000 /dev/zero >&2; exit 3");
        Assert.Equal(16 * 1024 * 1024 - 1024, r.Stdout.Length + r.Stderr.Length);
        Assert.Equal(3, r.ExitCode);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"took {sw.Elapsed}");
        Assert.Equal(0, r.Stdout[12345]);
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task A_16_MiB_stdout_arrives_truncated_not_as_an_error(string handler)
    {
        var id = await RunningContainer(handler);
        var r = await Exec(id, 60, "head", "-c", "16777216", "/dev/zero");
        Assert.Equal(16 * 1024 * 1024 - 1024, r.Stdout.Length);
        Assert.True(r.Stderr.IsEmpty, r.Stderr.ToStringUtf8());
        Assert.Equal(0, r.ExitCode);
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task A_background_child_holding_stdout_does_not_hang_the_call(string handler)
    {
        var id = await RunningContainer(handler);
        var sw = Stopwatch.StartNew();
        var r = await Exec(id, 30, "sh", "-c", "sleep 100 & echo done; exit 5");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(3), $"took {sw.Elapsed}");
        Assert.Equal("done\n", r.Stdout.ToStringUtf8());
        Assert.Equal(5, r.ExitCode);

        // A background child that closed its output is left alone.
        r = await Exec(id, 30, "sh", "-c", "sleep 200 >/dev/null 2>&1 & echo started");
        Assert.Equal("started\n", r.Stdout.ToStringUtf8());
        Assert.Contains("sleep 200", (await Exec(id, 10, "ps", "-o", "pid,args")).Stdout.ToStringUtf8());
    }

    [Fact]
    public async Task Unknown_stopped_and_invalid_requests_get_precise_codes()
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => Exec("0000dead", 10, "true"));
        Assert.Equal(StatusCode.NotFound, e.StatusCode);

        var id = await RunningContainer("runc");
        e = await Assert.ThrowsAsync<RpcException>(() => Exec(id, 10));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);

        // Not a program in the image: the runtime's failure, not a hang or an internal error.
        var r = await Exec(id, 10, "/no/such/program");
        Assert.NotEqual(0, r.ExitCode);

        await _runtime.StopContainerAsync(new StopContainerRequest { ContainerId = id, Timeout = 0 });
        _running.Remove("runc");
        e = await Assert.ThrowsAsync<RpcException>(() => Exec(id, 10, "true"));
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Contains("not running", e.Status.Detail);
    }
}
