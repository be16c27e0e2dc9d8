using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using CriSharp.Api.V1;
using CriSharp.Integration.Tests.Daemon;
using CriSharp.Integration.Tests.Network;
using CriSharp.TestSupport.Streaming;

namespace CriSharp.Integration.Tests.Streaming;

/// <summary>
/// One daemon on a CNI test network (bridge, /24, isolation rule: <see cref="NetworkTestBed"/>) with busybox pulled,
/// shared by the end-to-end streaming tests; pods are made on first use and everything goes at the end.
/// </summary>
public sealed class StreamingBed : IAsyncLifetime
{
    public const string V4 = "v4.channel.k8s.io";
    public const string V5 = "v5.channel.k8s.io";

    readonly ConcurrentDictionary<string, Lazy<Task<RunningPod>>> _pods = new();

    /// <summary>
    /// A deep daemon directory on purpose: conmon's attach sockets under it (state/a/ID/attach) are longer than the
    /// 107 bytes a sockaddr_un holds, as under a long configured state_dir.
    /// </summary>
    public NetworkTestBed Net { get; } = new("csstrm-a0", 31,
        daemonDir: $"/tmp/crisharp-it-{Guid.NewGuid():N}"[..29] + "-streaming-deep-state-dir");
    public RuntimeService.RuntimeServiceClient Runtime => Net.Runtime;

    public async Task InitializeAsync() => await Net.StartAsync(withBusybox: true);

    public async Task DisposeAsync() => await Net.DisposeAsync();

    /// <summary>A pod on the test network and its container, created with <paramref name="configure"/>.</summary>
    public sealed record RunningPod(string PodId, PodSandboxConfig Config, string ContainerId, string LogPath);

    /// <summary>A pod (handler <paramref name="handler"/>) running `sleep 3600`, made once per key and kept for the class.</summary>
    public Task<RunningPod> SleeperAsync(string handler) =>
        _pods.GetOrAdd("sleeper-" + handler, key => new Lazy<Task<RunningPod>>(() => RunPodAsync(key, handler, ["sleep", "3600"]))).Value;

    /// <summary>Runs a new pod with one container running <paramref name="command"/>.</summary>
    public async Task<RunningPod> RunPodAsync(string name, string handler, string[] command, Action<ContainerConfig>? configure = null)
    {
        var config = Net.PodConfig(name);
        var pod = (await Runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config, RuntimeHandler = handler })).PodSandboxId;
        var id = await StartContainerAsync(pod, config, "main", command, configure);
        return new RunningPod(pod, config, id, Path.Combine(config.LogDirectory, "main.log"));
    }

    public async Task<string> StartContainerAsync(string pod, PodSandboxConfig config, string name, string[] command, Action<ContainerConfig>? configure = null)
    {
        var c = new ContainerConfig
        {
            Metadata = new ContainerMetadata { Name = name },
            Image = new ImageSpec { Image = Net.Busybox },
            LogPath = $"{name}.log",
        };
        c.Command.AddRange(command);
        configure?.Invoke(c);
        var id = (await Runtime.CreateContainerAsync(new CreateContainerRequest { PodSandboxId = pod, Config = c, SandboxConfig = config })).ContainerId;
        await Runtime.StartContainerAsync(new StartContainerRequest { ContainerId = id });
        return id;
    }

    public async Task<ContainerStatus> WaitForStateAsync(string id, ContainerState state, double seconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var s = (await Runtime.ContainerStatusAsync(new ContainerStatusRequest { ContainerId = id })).Status;
            if (s.State == state) return s;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"container {id} is {s.State}, not {state}\n{Net.Daemon.Stderr}");
            await Task.Delay(50);
        }
    }

    public async Task<Uri> ExecUrlAsync(string containerId, string[] cmd, bool stdin = false, bool stdout = true, bool stderr = true, bool tty = false)
    {
        var r = await Runtime.ExecAsync(new ExecRequest { ContainerId = containerId, Cmd = { cmd }, Stdin = stdin, Stdout = stdout, Stderr = stderr, Tty = tty });
        return new Uri(r.Url);
    }

    internal static Task<SpdyExecSession> SpdyAsync(Uri url, bool stdin = false, bool stdout = true, bool stderr = true, bool tty = false) =>
        SpdyExecSession.OpenAsync(url, V4, stdin, stdout, stderr, resize: tty);

    internal static async Task<TestChannelWebSocketClient> WebSocketAsync(Uri url, params string[] protocols)
    {
        var (client, status) = await TestChannelWebSocketClient.ConnectAsync(url, protocols);
        return client ?? throw new InvalidOperationException($"WebSocket handshake to {url} refused: {(int)status}");
    }

    /// <summary>The exit code a v4 status says: 0 for Success, the ExitCode cause of NonZeroExitCode.</summary>
    public static int ExitCode(JsonElement status)
    {
        if (status.GetProperty("status").GetString() == "Success") return 0;
        Assert.Equal("NonZeroExitCode", status.GetProperty("reason").GetString());
        var cause = status.GetProperty("details").GetProperty("causes")[0];
        Assert.Equal("ExitCode", cause.GetProperty("reason").GetString());
        return int.Parse(cause.GetProperty("message").GetString()!);
    }

    public static JsonElement Json(byte[] bytes) => JsonDocument.Parse(bytes).RootElement.Clone();

    /// <summary>Waits until the CRI log at <paramref name="path"/> has a line containing each of <paramref name="expected"/>.</summary>
    public static async Task<string> WaitLogAsync(string path, params string[] expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var text = File.Exists(path) ? await File.ReadAllTextAsync(path) : "";
            if (expected.All(text.Contains)) return text;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{path} lacks [{string.Join(", ", expected)}]: '{text}'");
            await Task.Delay(50);
        }
    }
}

/// <summary>Collects one output stream in the background so a test can poll it while it keeps writing to the process.</summary>
public sealed class OutputCollector
{
    readonly StringBuilder _text = new();
    readonly Channel<bool> _changed = Channel.CreateUnbounded<bool>();

    OutputCollector(Func<CancellationToken, Task<byte[]?>> read)
    {
        Done = Task.Run(async () =>
        {
            try
            {
                while (await read(CancellationToken.None) is { } chunk)
                {
                    lock (_text) _text.Append(Encoding.UTF8.GetString(chunk));
                    _changed.Writer.TryWrite(true);
                }
            }
            catch (Exception e) when (e is ChannelClosedException or OperationCanceledException or IOException)
            {
            }
            finally
            {
                _changed.Writer.TryComplete();
            }
        });
    }

    public Task Done { get; }
    public string Text { get { lock (_text) return _text.ToString(); } }

    internal static OutputCollector Of(TestSpdyClient.ClientStream stream) => new(ct => stream.ReadAsync(ct));

    internal static OutputCollector Of(TestChannelWebSocketClient client, int channel) =>
        new(async ct => await client.ReadMessageAsync(channel, TimeSpan.FromMinutes(2)));

    /// <summary>Whether the text contains <paramref name="expected"/> within <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForAsync(string expected, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!Text.Contains(expected, StringComparison.Ordinal))
        {
            try
            {
                if (!await _changed.Reader.WaitToReadAsync(cts.Token)) return Text.Contains(expected, StringComparison.Ordinal);
                while (_changed.Reader.TryRead(out _)) { }
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }
        return true;
    }

    public async Task<string> RequireAsync(string expected, double seconds = 10) =>
        await WaitForAsync(expected, TimeSpan.FromSeconds(seconds)) ? Text : throw new TimeoutException($"output lacks '{expected}': '{Text}'");
}
