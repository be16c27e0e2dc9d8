using System.Text;
using CriSharp.Linux;
using CriSharp.Mechanism.Monitor;
using CriSharp.Mechanism.Oci;
using CriSharp.Mechanism.Processes;
using CriSharp.Model;
using CriSharp.Runtime.Exec;
using CriSharp.Runtime.Tests.Mechanism.Monitor;
using CriSharp.State;
using CriSharp.Streaming;
using Xunit.Abstractions;

namespace CriSharp.Runtime.Tests.Exec;

/// <summary>
/// Streaming exec and attach against real containers under conmon with runc and crun: pipes with separate
/// stdout/stderr, stdin, the tty paths (runc on a pty of ours, crun's pty master over a console socket) with
/// resize seen by `stty size`, exit codes, kill on dispose, and conmon's attach socket and control FIFO.
/// </summary>
public sealed class ExecSessionTests(MonitorHost host, ITestOutputHelper output) : IClassFixture<MonitorHost>, IAsyncLifetime
{
    static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);
    readonly List<(OciRuntime Runtime, string Id, string Bundle)> _created = [];
    ExitWatcher? _watcher;
    RecordIndex<ContainerRecord> _records = null!;

    public Task InitializeAsync()
    {
        _records = RuntimeRecords.Containers(Path.Combine(host.Root, "records-" + Guid.NewGuid().ToString("N")[..6]));
        _watcher = new ExitWatcher(host.ExitDir);
        _watcher.ContainerExited += (id, code, _) => _records.Update(id, r => r with { State = ContainerState.Exited, ExitCode = code });
        _watcher.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _watcher?.Dispose();
        foreach (var (runtime, id, bundle) in _created) await host.CleanupAsync(runtime, id, bundle);
    }

    /// <summary>A started container under conmon, recorded as running.</summary>
    async Task<(OciRuntime Runtime, ContainerRecord Record)> StartAsync(string handler, bool tty, bool stdin, params string[] args)
    {
        var runtime = host.Runtime(handler);
        var id = "x" + handler[0] + Guid.NewGuid().ToString("N")[..10];
        var bundle = host.MakeBundle(id, args);
        if (tty)
        {
            var config = Path.Combine(bundle, "config.json");
            File.WriteAllText(config, File.ReadAllText(config).Replace("\"terminal\": false", "\"terminal\": true"));
        }
        _created.Add((runtime, id, bundle));
        var launch = new ContainerLaunch(id, "ctr-" + id, bundle, runtime, Path.Combine(host.Root, "logs", id + ".log"), tty, stdin, StdinOnce: stdin);
        var process = await host.Monitor().CreateAsync(launch);
        var record = new ContainerRecord
        {
            Id = id, SandboxId = "pod", ImageId = "img", RuntimeHandler = handler, BundleDir = bundle, LayerDir = bundle,
            Spec = new ContainerSpec { Name = "c", Image = "busybox", Tty = tty, Stdin = stdin, StdinOnce = stdin },
            State = ContainerState.Running, Pid = process.Pid, ConmonPid = process.ConmonPid,
            LogPath = launch.LogPath,
        };
        _records.Put(record);
        await runtime.StartAsync(id);
        return (runtime, record);
    }

    string ProcessFile(ContainerRecord c, bool tty, params string[] args) =>
        new ExecProcessSpecs(_records).WriteFile(c, args, tty);

    static async Task<string> ReadUntilAsync(Stream s, string wanted, TimeSpan limit)
    {
        using var cts = new CancellationTokenSource(limit);
        var text = new StringBuilder();
        var buffer = new byte[4096];
        try
        {
            while (!text.ToString().Contains(wanted, StringComparison.Ordinal))
            {
                var n = await s.ReadAsync(buffer, cts.Token);
                if (n == 0) break;
                text.Append(Encoding.UTF8.GetString(buffer, 0, n));
            }
        }
        catch (OperationCanceledException)
        {
        }
        return text.ToString();
    }

    static async Task<string> ReadToEndAsync(Stream s)
    {
        using var cts = new CancellationTokenSource(Limit);
        using var ms = new MemoryStream();
        await s.CopyToAsync(ms, cts.Token);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    static async Task<T> Within<T>(Task<T> task, string what) =>
        await Task.WhenAny(task, Task.Delay(Limit)) == task ? await task : throw new TimeoutException($"{what} not within {Limit.TotalSeconds}s");

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Piped_exec_separates_stdout_and_stderr_feeds_stdin_and_reports_the_exit_code(string handler)
    {
        var (runtime, c) = await StartAsync(handler, false, false, "/bin/busybox", "sleep", "3600");

        await using (var s = RuntimeStreamingBackend.StartPiped(runtime, c.Id, ProcessFile(c, false, "/bin/busybox", "sh", "-c", "echo out; echo err >&2; exit 3"), stdin: false))
        {
            Assert.Null(s.Stdin);
            var (stdout, stderr) = (ReadToEndAsync(s.Stdout), ReadToEndAsync(s.Stderr!));
            Assert.Equal(3, await Within(s.Exited, "exit"));
            Assert.Equal("out\n", await stdout);
            Assert.Equal("err\n", await stderr);
        }

        await using (var s = RuntimeStreamingBackend.StartPiped(runtime, c.Id, ProcessFile(c, false, "/bin/busybox", "cat"), stdin: true))
        {
            await s.Stdin!.WriteAsync("hello\n"u8.ToArray());
            Assert.Equal("hello\n", await ReadUntilAsync(s.Stdout, "hello\n", Limit));
            s.CloseStdin();
            Assert.Equal(0, await Within(s.Exited, "exit after stdin closed"));
        }
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Tty_exec_resizes_the_terminal_and_reports_the_exit_code(string handler)
    {
        var (runtime, c) = await StartAsync(handler, false, false, "/bin/busybox", "sleep", "3600");
        var file = ProcessFile(c, true, "/bin/busybox", "sh", "-c", "read x; /bin/busybox stty size; echo \"got $x\"; exit 4");
        var socketDir = Path.Combine(host.Root, "cs");
        await using var s = RuntimeStreamingBackend.SendsConsoleInForeground(runtime)
            ? await RuntimeStreamingBackend.StartWithConsoleSocketAsync(runtime, c.Id, file, socketDir, stdin: true, default)
            : RuntimeStreamingBackend.StartOnHostTerminal(runtime, c.Id, file, stdin: true);
        Assert.Null(s.Stderr);
        await s.ResizeAsync(100, 40, default);
        await Task.Delay(300); // the resize reaches the container's terminal before the command asks for it
        await s.Stdin!.WriteAsync("go\r"u8.ToArray());
        var text = await ReadUntilAsync(s.Stdout, "got go", Limit);
        output.WriteLine(text);
        Assert.Contains("40 100", text);
        Assert.Equal(4, await Within(s.Exited, "exit"));
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Disposing_a_running_exec_kills_it_and_its_children(string handler)
    {
        var (runtime, c) = await StartAsync(handler, false, false, "/bin/busybox", "sleep", "3600");
        var s = RuntimeStreamingBackend.StartPiped(runtime, c.Id, ProcessFile(c, false, "/bin/busybox", "sh", "-c", "/bin/busybox sleep 301 & /bin/busybox sleep 302; echo never"), stdin: false);
        await Task.Delay(500);
        var sleeps = Sleepers().ToList();
        Assert.Equal(2, sleeps.Count);
        await s.DisposeAsync();
        Assert.True(s.Exited.IsCompleted);
        await Task.Delay(200);
        Assert.Empty(Sleepers());

        static IEnumerable<int> Sleepers() => ProcessTable.Snapshot().Entries.Where(e => !e.IsGone)
            .Where(e => File.Exists($"/proc/{e.Pid}/cmdline") && TryCmdline(e.Pid) is { } cmd && (cmd.Contains("sleep\0" + "301") || cmd.Contains("sleep\0" + "302")))
            .Select(e => e.Pid);
    }

    static string? TryCmdline(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline"); }
        catch (IOException) { return null; }
    }

    [Fact]
    public async Task Runc_sends_the_pty_master_over_the_console_socket_as_SCM_RIGHTS()
    {
        var (runtime, c) = await StartAsync("runc", false, false, "/bin/busybox", "sleep", "3600");
        Directory.CreateDirectory(Path.Combine(host.Root, "cs"));
        using var console = ConsoleSocket.Listen(Path.Combine(host.Root, "cs", "runc.sock"));
        var receive = console.ReceiveAsync(default);
        var exec = await ProcessRunner.RunAsync(runtime.BinaryPath,
            [.. runtime.GlobalArgs, "exec", "--detach", "--tty", "--console-socket", console.Path, c.Id, "/bin/busybox", "sh", "-c", "read x; /bin/busybox stty size"],
            Limit, default);
        exec.ThrowIfFailed("runc exec --detach --tty");
        var master = await Within(receive, "console fd");
        using var stream = new FdStream(master, FileAccess.ReadWrite);
        Terminal.SetWindowSize(master, 33, 77);
        Assert.Equal(((ushort)33, (ushort)77), Terminal.GetWindowSize(master));
        await stream.WriteAsync("x\r"u8.ToArray());
        Assert.Contains("33 77", await ReadUntilAsync(stream, "33 77", Limit));
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Attach_reads_stdout_and_stderr_apart_feeds_stdin_and_leaves_the_log_intact(string handler)
    {
        var (_, c) = await StartAsync(handler, false, true, "/bin/busybox", "sh", "-c",
            "while read l; do echo \"out $l\"; echo \"err $l\" >&2; done; exit 7");
        await using var s = await AttachSession.ConnectAsync(host.Monitor(), c, _records, tty: false, stdin: true, default);
        await s.Stdin!.WriteAsync("a\n"u8.ToArray());
        Assert.Contains("out a\n", await ReadUntilAsync(s.Stdout, "out a\n", Limit));
        Assert.Contains("err a\n", await ReadUntilAsync(s.Stderr!, "err a\n", Limit));
        s.CloseStdin(); // stdin_once: conmon closes the container's stdin, the loop ends
        Assert.Equal(7, await Within(s.Exited, "container exit"));
        var log = await File.ReadAllTextAsync(c.LogPath);
        Assert.Contains(" stdout F out a", log);
        Assert.Contains(" stderr F err a", log);
    }

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Attach_to_a_tty_container_resizes_through_the_control_fifo(string handler)
    {
        var (_, c) = await StartAsync(handler, true, true, "/bin/busybox", "sh", "-c", "read x; /bin/busybox stty size; exit 2");
        await using var s = await AttachSession.ConnectAsync(host.Monitor(), c, _records, tty: true, stdin: true, default);
        Assert.Null(s.Stderr);
        await s.ResizeAsync(91, 27, default);
        await Task.Delay(300);
        await s.Stdin!.WriteAsync("go\r"u8.ToArray());
        var text = await ReadUntilAsync(s.Stdout, "27 91", Limit);
        output.WriteLine(text);
        Assert.Contains("27 91", text);
        Assert.Equal(2, await Within(s.Exited, "container exit"));
    }
}
