using CriSharp.Configuration;

namespace CriSharp.Network.Tests;

/// <summary>CniNetwork against shell-script plugins that log every call (command, netns, stdin).</summary>
public sealed class CniNetworkTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("crisharp-cni-net-").FullName;
    string Conf => Path.Combine(_dir, "net.d");
    string Bin => Path.Combine(_dir, "bin");
    string Log => Path.Combine(_dir, "calls.log");
    readonly DaemonConfig _config;
    readonly CniNetwork _net;

    const string Result = """{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/x"}],"ips":[{"address":"10.9.0.5/24","gateway":"10.9.0.1","interface":0}]}""";

    public CniNetworkTests()
    {
        Directory.CreateDirectory(Conf);
        Directory.CreateDirectory(Bin);
        _config = new DaemonConfig
        {
            Root = Path.Combine(_dir, "root"),
            Network = new NetworkConfig { ConfDir = Conf, PluginDirs = [Bin], PluginTimeoutSeconds = 5 },
        };
        _net = new CniNetwork(new LiveConfig(_config, new ConfigSources()), Serilog.Core.Logger.None);
        Plugin("fakeip", $"ADD) echo '{Result}' ;;");
        Plugin("fakechain", """ADD) echo "$in" | sed -n 's/.*"prevResult":\(.*\)}$/\1/p' ;;""");
    }

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>A plugin logging "name COMMAND netns stdin" then running the given case arms.</summary>
    void Plugin(string name, string cases)
    {
        var path = Path.Combine(Bin, name);
        File.WriteAllText(path, $"""
            #!/bin/sh
            in=$(cat)
            echo "{name} $CNI_COMMAND [$CNI_NETNS] $CNI_CONTAINERID $CNI_IFNAME $in" >> {Log}
            case "$CNI_COMMAND" in
            {cases}
            *) ;;
            esac
            """);
        File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
    }

    void Network(string version, params string[] types) =>
        File.WriteAllText(Path.Combine(Conf, "10-test.conflist"),
            $$"""{"cniVersion":"{{version}}","name":"testnet","plugins":[{{string.Join(",", types.Select(t => $$"""{"type":"{{t}}"}"""))}}]}""");

    string[] Calls() => File.Exists(Log) ? File.ReadAllLines(Log) : [];

    [Fact]
    public async Task Add_chains_prev_result_and_del_runs_in_reverse_from_the_cache()
    {
        Network("1.0.0", "fakeip", "fakechain");
        var pod = CniConfListTests.Pod();
        var ips = await _net.SetUpAsync(pod, CancellationToken.None);
        Assert.Equal(["10.9.0.5"], ips);
        var calls = Calls();
        Assert.Equal(2, calls.Length);
        Assert.StartsWith($"fakeip ADD [{pod.NetNsPath}] abc123 eth0 ", calls[0]);
        Assert.DoesNotContain("prevResult", calls[0]);
        Assert.Contains("\"prevResult\":{\"cniVersion\":\"1.0.0\"", calls[1]);
        var cached = _net.Cache.Load(pod.Id)!;
        Assert.Equal("testnet", cached.NetworkName);
        Assert.NotNull(cached.Result);

        // The conf dir changes: DEL still uses what ADD used.
        File.Delete(Path.Combine(Conf, "10-test.conflist"));
        await _net.TearDownAsync(pod, CancellationToken.None);
        calls = Calls();
        Assert.Equal(4, calls.Length);
        Assert.StartsWith("fakechain DEL [] abc123 eth0 ", calls[2]); // the netns path is not a mount: passed empty
        Assert.StartsWith("fakeip DEL [] ", calls[3]);
        Assert.Contains("\"prevResult\":{\"cniVersion\":\"1.0.0\"", calls[3]);
        Assert.Null(_net.Cache.Load(pod.Id));

        await _net.TearDownAsync(pod, CancellationToken.None); // idempotent: nothing cached, nothing to do
        Assert.Equal(4, Calls().Length);
    }

    [Fact]
    public async Task Del_of_a_pre_040_network_passes_no_prev_result()
    {
        Network("0.3.1", "fakeip");
        await _net.SetUpAsync(CniConfListTests.Pod(), CancellationToken.None);
        await _net.TearDownAsync(CniConfListTests.Pod(), CancellationToken.None);
        Assert.DoesNotContain("prevResult", Calls()[1]);
    }

    [Fact]
    public async Task A_failed_add_is_deleted_and_reported_with_the_plugin_message()
    {
        Plugin("failer", """ADD) echo '{"cniVersion":"1.0.0","code":11,"msg":"no luck","details":"try later"}'; exit 1 ;;""");
        Network("1.0.0", "fakeip", "failer");
        var e = await Assert.ThrowsAsync<CniException>(() => _net.SetUpAsync(CniConfListTests.Pod(), CancellationToken.None));
        Assert.Contains("CNI plugin failer failed (ADD): no luck: try later", e.Message);
        Assert.Equal(11, e.Code);
        Assert.Equal(["fakeip ADD", "failer ADD", "failer DEL", "fakeip DEL"], Calls().Select(c => string.Join(' ', c.Split(' ').Take(2))));
        Assert.Contains("\"prevResult\"", Calls()[2]);
        Assert.Null(_net.Cache.Load("abc123"));
    }

    [Fact]
    public async Task Garbage_and_hangs_fail_clearly()
    {
        Plugin("garbage", "ADD) echo 'this is not json' ;;");
        Network("1.0.0", "garbage");
        var e = await Assert.ThrowsAsync<CniException>(() => _net.SetUpAsync(CniConfListTests.Pod(), CancellationToken.None));
        Assert.Contains("CNI plugin garbage (ADD) returned an invalid result", e.Message);
        Assert.Contains("this is not json", e.Message);

        _config.Network.PluginTimeoutSeconds = 1;
        Plugin("hang", "ADD) sleep 300 ;;");
        Network("1.0.0", "hang");
        var sw = System.Diagnostics.Stopwatch.StartNew();
        e = await Assert.ThrowsAsync<CniException>(() => _net.SetUpAsync(CniConfListTests.Pod(), CancellationToken.None));
        Assert.Contains("CNI plugin hang (ADD) timed out after 1s", e.Message);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10));
        Assert.Null(_net.Cache.Load("abc123"));
    }

    [Fact]
    public async Task No_usable_config_is_not_ready()
    {
        var e = await Assert.ThrowsAsync<CniException>(() => _net.SetUpAsync(CniConfListTests.Pod(), CancellationToken.None));
        Assert.True(e.NotReady);
        Assert.StartsWith("NetworkPluginNotReady", e.Message);
        Assert.Contains(Conf, e.Message);
    }

    [Fact]
    public async Task Del_tolerates_container_unknown_and_reports_other_failures_after_trying_all()
    {
        Network("1.0.0", "fakeip", "fakechain");
        await _net.SetUpAsync(CniConfListTests.Pod(), CancellationToken.None);
        Plugin("fakechain", """DEL) echo '{"code":3,"msg":"container unknown"}'; exit 1 ;;""");
        Plugin("fakeip", """DEL) echo '{"code":5,"msg":"io failure"}'; exit 1 ;;""");
        var e = await Assert.ThrowsAsync<CniException>(() => _net.TearDownAsync(CniConfListTests.Pod(), CancellationToken.None));
        Assert.Contains("io failure", e.Message);
        Assert.DoesNotContain("container unknown", e.Message);
        Assert.NotNull(_net.Cache.Load("abc123")); // kept for the retry

        Plugin("fakeip", "");
        await _net.TearDownAsync(CniConfListTests.Pod(), CancellationToken.None);
        Assert.Null(_net.Cache.Load("abc123"));
    }

    [Fact]
    public async Task Recovery_deletes_attachments_of_pods_without_a_record()
    {
        Network("1.0.0", "fakeip");
        await _net.SetUpAsync(CniConfListTests.Pod(), CancellationToken.None);
        await _net.RecoverAsync(new HashSet<string> { "abc123" }, CancellationToken.None);
        Assert.NotNull(_net.Cache.Load("abc123"));
        await _net.RecoverAsync(new HashSet<string>(), CancellationToken.None);
        Assert.Null(_net.Cache.Load("abc123"));
        Assert.Equal("fakeip DEL", string.Join(' ', Calls()[^1].Split(' ').Take(2)));
    }

    [Fact]
    public async Task Check_needs_040_and_status_needs_110()
    {
        Network("0.3.1", "fakeip");
        await _net.SetUpAsync(CniConfListTests.Pod(), CancellationToken.None);
        var e = await Assert.ThrowsAsync<CniException>(() => _net.CheckAsync(CniConfListTests.Pod(), CancellationToken.None));
        Assert.Contains("no CHECK", e.Message);
        await _net.TearDownAsync(CniConfListTests.Pod(), CancellationToken.None);

        Network("1.0.0", "fakeip");
        await _net.SetUpAsync(CniConfListTests.Pod(), CancellationToken.None);
        await _net.CheckAsync(CniConfListTests.Pod(), CancellationToken.None);
        Assert.StartsWith("fakeip CHECK", Calls()[^1]);
        Assert.Contains("\"prevResult\"", Calls()[^1]);
        await _net.StatusAsync(CancellationToken.None); // 1.0.0: no STATUS call
        Assert.StartsWith("fakeip CHECK", Calls()[^1]);

        Plugin("fakeip", """STATUS) echo '{"code":50,"msg":"not available"}'; exit 1 ;;""");
        Network("1.1.0", "fakeip");
        e = await Assert.ThrowsAsync<CniException>(() => _net.StatusAsync(CancellationToken.None));
        Assert.Equal(50, e.Code);
        Assert.StartsWith("fakeip STATUS [] ", Calls()[^1]);
    }
}
