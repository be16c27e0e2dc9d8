using System.Text.Json;
using CriSharp.Api.V1;
using CriSharp.Linux;

namespace CriSharp.Integration.Tests.Daemon;

/// <summary>How the daemon starts, refuses, reloads and stops, as an operator sees it.</summary>
public sealed class DaemonLifecycleTests
{
    static async Task<(int Code, string Output)> RunToExit(DaemonProcess d, params string[] args)
    {
        d.Start(args);
        var code = await d.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.True(code.HasValue, $"crisharp {string.Join(' ', args)} did not exit:\n{d.Stderr}");
        return (code.Value, d.Stderr);
    }

    [Theory]
    [InlineData("bogus_key = 1", "bogus_key", "unknown key")]
    [InlineData("shutdown_timeout_seconds = \"soon\"", "shutdown_timeout_seconds", "expected an integer")]
    [InlineData("log_level = \"chatty\"", "log_level", "must be one of")]
    public async Task Bad_config_exits_nonzero_naming_file_and_key(string toml, string key, string problem)
    {
        using var d = new DaemonProcess(toml);
        var (code, output) = await RunToExit(d, "--config", d.ConfigFile, "--config-dir", d.DropInDir);
        Assert.NotEqual(0, code);
        Assert.Contains(key, output);
        Assert.Contains(problem, output);
        if (problem == "unknown key") Assert.Contains(d.ConfigFile, output);
        Assert.False(File.Exists(d.Socket));
    }

    [Fact]
    public async Task Bad_drop_in_and_unreadable_config_are_named()
    {
        using var d = new DaemonProcess();
        Directory.CreateDirectory(d.DropInDir);
        var dropIn = Path.Combine(d.DropInDir, "90-bad.toml");
        File.WriteAllText(dropIn, "[stream]\nport = true\n");
        var (code, output) = await RunToExit(d, "--config", d.ConfigFile, "--config-dir", d.DropInDir);
        Assert.NotEqual(0, code);
        Assert.Contains(dropIn, output);
        Assert.Contains("stream.port", output);

        using var d2 = new DaemonProcess();
        var dirAsConfig = Path.Combine(d2.Dir, "a-directory.toml");
        Directory.CreateDirectory(dirAsConfig);
        (code, output) = await RunToExit(d2, "--config", dirAsConfig);
        Assert.NotEqual(0, code);
        Assert.Contains(dirAsConfig, output);
    }

    [Fact]
    public async Task A_second_daemon_on_a_live_socket_refuses_and_the_first_keeps_answering()
    {
        using var first = await new DaemonProcess().StartServingAsync();
        using var second = new DaemonProcess(dir: null);
        File.WriteAllText(second.ConfigFile, File.ReadAllText(first.ConfigFile));
        var (code, output) = await RunToExit(second, "--config", second.ConfigFile, "--config-dir", second.DropInDir);
        Assert.NotEqual(0, code);
        Assert.Contains("another daemon is already serving", output);

        var client = new RuntimeService.RuntimeServiceClient(first.Channel());
        Assert.Equal("crisharp", (await client.VersionAsync(new VersionRequest())).RuntimeName);
    }

    [Fact]
    public async Task A_stale_socket_file_left_by_a_crash_is_replaced()
    {
        using var d = await new DaemonProcess().StartServingAsync();
        d.Signal(ProcessControl.SIGKILL); // a crash: no chance to remove the socket
        await d.WaitForExitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(FileKind.Socket, FileSystem.GetKind(d.Socket));
        Assert.False(DaemonProcess.Answers(d.Socket));

        await d.StartServingAsync();
        var client = new RuntimeService.RuntimeServiceClient(d.Channel());
        Assert.Equal("v1", (await client.VersionAsync(new VersionRequest())).RuntimeApiVersion);
    }

    [Fact]
    public async Task A_regular_file_at_the_socket_path_is_never_deleted()
    {
        using var d = new DaemonProcess();
        File.WriteAllText(d.Socket, "precious");
        var (code, output) = await RunToExit(d, "--config", d.ConfigFile);
        Assert.NotEqual(0, code);
        Assert.Contains("not a socket", output);
        Assert.Equal("precious", File.ReadAllText(d.Socket));
    }

    [Theory]
    [InlineData(ProcessControl.SIGTERM)]
    [InlineData(ProcessControl.SIGINT)]
    public async Task Sigterm_and_sigint_exit_zero_within_five_seconds_and_remove_the_socket(int signal)
    {
        using var d = await new DaemonProcess().StartServingAsync();
        d.Signal(signal);
        var code = await d.WaitForExitAsync(TimeSpan.FromSeconds(5));
        Assert.True(code.HasValue, "crisharp did not exit within 5 s of the signal");
        Assert.Equal(0, code);
        Assert.False(File.Exists(d.Socket), "socket left behind");
    }

    [Fact]
    public async Task Sighup_reloads_the_log_level_and_keeps_serving()
    {
        using var d = new DaemonProcess();
        File.WriteAllText(d.ConfigFile, File.ReadAllText(d.ConfigFile).Replace("log_level = \"debug\"", "log_level = \"info\""));
        await d.StartServingAsync();
        var client = new RuntimeService.RuntimeServiceClient(d.Channel());
        await client.VersionAsync(new VersionRequest());
        await Task.Delay(200);
        Assert.DoesNotContain("RuntimeService/Version call", d.Stderr);

        File.WriteAllText(d.ConfigFile, File.ReadAllText(d.ConfigFile).Replace("log_level = \"info\"", "log_level = \"debug\""));
        d.Signal(ProcessControl.SIGHUP);
        await WaitFor(() => d.Stderr.Contains("configuration reloaded"), d);
        await client.VersionAsync(new VersionRequest());
        await WaitFor(() => d.Stderr.Contains("RuntimeService/Version call"), d);
        Assert.False(d.Process!.HasExited);

        // A broken config on reload is refused and the daemon keeps its running config.
        File.WriteAllText(d.ConfigFile, "nonsense = 1\n");
        d.Signal(ProcessControl.SIGHUP);
        await WaitFor(() => d.Stderr.Contains("configuration reload failed"), d);
        Assert.Equal("crisharp", (await client.VersionAsync(new VersionRequest())).RuntimeName);
    }

    [Fact]
    public async Task Json_log_format_writes_one_json_object_per_line()
    {
        using var d = new DaemonProcess("log_format = \"json\"");
        await d.StartServingAsync();
        await new RuntimeService.RuntimeServiceClient(d.Channel()).VersionAsync(new VersionRequest());
        await WaitFor(() => d.Stderr.Contains("Version"), d);
        var lines = d.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        var call = lines.Select(l => JsonDocument.Parse(l).RootElement)
            .First(e => e.TryGetProperty("Method", out var m) && m.GetString()!.EndsWith("/Version"));
        Assert.Equal("OK", call.GetProperty("Code").GetString());
        Assert.True(call.TryGetProperty("CallId", out _));
        Assert.True(call.TryGetProperty("DurationMs", out _));
    }

    [Fact]
    public async Task Config_commands_print_effective_and_default_toml()
    {
        using var d = new DaemonProcess("cgroup_driver = \"systemd\"");
        var (code, output) = await RunToExit(d, "config", "--config", d.ConfigFile, "--config-dir", d.DropInDir);
        Assert.Equal(0, code);
        Assert.Contains("cgroup_driver = \"systemd\"", output);
        Assert.Contains($"listen = \"{d.Socket}\"", output);

        using var d2 = new DaemonProcess();
        (code, output) = await RunToExit(d2, "config", "--default");
        Assert.Equal(0, code);
        foreach (var key in new[] { "root", "state_dir", "listen", "log_level", "log_format", "default_runtime", "monitor_path", "conf_dir", "plugin_dirs", "search", "port", "[runtimes.runc]", "[runtimes.crun]" })
            Assert.Contains(key, output);
        Assert.Contains("# ", output);

        using var d3 = new DaemonProcess();
        (code, output) = await RunToExit(d3, "version");
        Assert.Equal(0, code);
        Assert.Matches(@"crisharp \d+\.\d+\.\d+", output);
    }

    static async Task WaitFor(Func<bool> condition, DaemonProcess d)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"condition not met; daemon output:\n{d.Stderr}");
            await Task.Delay(50);
        }
    }
}
