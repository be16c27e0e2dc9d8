using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using CriSharp.Linux;
using CriSharp.Mechanism.Processes;
using CriSharp.Model;
using CriSharp.Runtime.Exec;
using CriSharp.Runtime.Tests.Linux;

namespace CriSharp.Runtime.Tests.Exec;

/// <summary>The Linux pieces under exec and port-forward: dialling into a network namespace, poll-based fd streams, /proc parsing, exec process specs.</summary>
public sealed class ExecLinuxTests
{
    static readonly TimeSpan Limit = TimeSpan.FromSeconds(20);

    static string NetNs() => File.ResolveLinkTarget("/proc/thread-self/ns/net", false)?.ToString() ?? new FileInfo("/proc/thread-self/ns/net").LinkTarget!;

    static async Task Run(string file, params string[] args) =>
        (await ProcessRunner.RunAsync(file, args, Limit, default)).ThrowIfFailed(file + " " + string.Join(' ', args));

    [Fact]
    public async Task ConnectLoopback_reaches_a_server_bound_to_127_0_0_1_inside_the_namespace_only()
    {
        var name = "crisharp-t-" + Guid.NewGuid().ToString("N")[..8];
        var port = 20000 + Random.Shared.Next(20000);
        using var www = new TempDir();
        File.WriteAllText(Path.Combine(www.Path, "index.html"), "inside the pod\n");
        await Run("/usr/sbin/ip", "netns", "add", name);
        RunningProcess? httpd = null;
        try
        {
            await Run("/usr/sbin/ip", "netns", "exec", name, "/usr/sbin/ip", "link", "set", "lo", "up");
            httpd = ProcessRunner.Start("/usr/sbin/ip", ["netns", "exec", name, "/bin/busybox", "httpd", "-f", "-p", $"127.0.0.1:{port}", "-h", www.Path]);
            var before = NetNs();
            var netns = "/run/netns/" + name;

            string response = "";
            var deadline = DateTime.UtcNow + Limit;
            while (true)
            {
                try
                {
                    var fd = await NetNamespace.ConnectLoopbackAsync(netns, port);
                    using var stream = new NetworkStream(new Socket(new SafeSocketHandle(fd, ownsHandle: true)), ownsSocket: true);
                    await stream.WriteAsync("GET /index.html HTTP/1.0\r\n\r\n"u8.ToArray());
                    using var reader = new StreamReader(stream);
                    response = await reader.ReadToEndAsync();
                    break;
                }
                catch (LinuxException e) when (e.Errno == Tmds.Linux.LibC.ECONNREFUSED && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(50); // httpd not listening yet
                }
            }
            Assert.Contains("200 OK", response);
            Assert.Contains("inside the pod", response);
            Assert.Equal(before, NetNs()); // the caller's thread never changed namespace

            // Nothing listens on that port in our own namespace.
            var e2 = Assert.Throws<LinuxException>(() => NetNamespace.ConnectLoopback(port));
            Assert.Equal(Tmds.Linux.LibC.ECONNREFUSED, e2.Errno);
            // Nor on another port inside.
            var e3 = await Assert.ThrowsAsync<LinuxException>(() => NetNamespace.ConnectLoopbackAsync(netns, port == 65000 ? 65001 : 65000));
            Assert.Equal(Tmds.Linux.LibC.ECONNREFUSED, e3.Errno);
            await Assert.ThrowsAsync<LinuxException>(() => NetNamespace.ConnectLoopbackAsync("/run/netns/does-not-exist", port));
        }
        finally
        {
            if (httpd != null)
            {
                ExecReaper.KillAll(httpd);
                await httpd.Exited;
                httpd.Dispose();
            }
            await Run("/usr/sbin/ip", "netns", "delete", name);
        }
    }

    [Fact]
    public async Task FdStream_reads_writes_and_a_pending_read_ends_on_cancel_or_dispose_while_the_writer_lives()
    {
        var (r, w) = Pipes.Create();
        var reader = new FdStream(r, FileAccess.Read);
        using var writer = new FdStream(w, FileAccess.Write);
        await writer.WriteAsync("abc"u8.ToArray());
        var buffer = new byte[16];
        Assert.Equal(3, await reader.ReadAsync(buffer));

        using var cts = new CancellationTokenSource(200);
        var sw = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => _ = await reader.ReadAsync(buffer, cts.Token));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2));

        var pending = reader.ReadAsync(buffer).AsTask();
        await Task.Delay(150);
        reader.Dispose();
        Assert.Equal(0, await pending.WaitAsync(TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public void A_pty_master_reads_EOF_once_the_slave_is_gone_and_carries_the_window_size()
    {
        var (master, slavePath) = Terminal.OpenPty();
        using var m = new FdStream(master, FileAccess.ReadWrite);
        var slave = Terminal.OpenSlave(slavePath);
        Terminal.MakeRaw(slave);
        Terminal.SetWindowSize(master, 12, 34);
        Assert.Equal(((ushort)12, (ushort)34), Terminal.GetWindowSize(slave));
        using (var s = new FdStream(slave, FileAccess.Write))
            s.Write("raw\n"u8);
        var buffer = new byte[16];
        Assert.Equal("raw\n", Encoding.ASCII.GetString(buffer, 0, m.Read(buffer))); // raw: no \r added
        Assert.Equal(0, m.Read(buffer));
    }

    [Fact]
    public void ProcessTable_parses_stat_lines_with_odd_names_and_knows_us()
    {
        var e = ProcessTable.Parse("4242 (a) b (c) S 1 4242 4200 0 -1 4194560 0 0")!.Value;
        Assert.Equal(4242, e.Pid);
        Assert.Equal(1, e.ParentPid);
        Assert.Equal(4242, e.ProcessGroup);
        Assert.Equal(4200, e.Session);
        Assert.False(e.IsGone);
        Assert.True(ProcessTable.Parse("7 (z) Z 1 7 7 0")!.Value.IsGone);
        Assert.Null(ProcessTable.Parse("garbage"));

        var table = ProcessTable.Snapshot();
        Assert.NotNull(table.Get(Environment.ProcessId));
        Assert.Contains(Environment.ProcessId, table.DescendantsOf(1).Append(1));
    }

    [Fact]
    public void Exec_process_specs_keep_the_containers_process_and_set_args_and_terminal()
    {
        using var dir = new TempDir();
        var bundle = dir.Sub("bundle");
        File.WriteAllText(Path.Combine(bundle, "config.json"), """
            {"ociVersion":"1.0.2","process":{"terminal":true,"consoleSize":{"height":1,"width":2},"user":{"uid":1234,"gid":5,"additionalGids":[7]},
             "args":["sleep","3600"],"env":["PATH=/bin","FOO=bar"],"cwd":"/work","capabilities":{"bounding":["CAP_CHOWN"]},
             "noNewPrivileges":true,"apparmorProfile":"p","rlimits":[{"type":"RLIMIT_NOFILE","hard":10,"soft":10}],"futureField":{"x":1}},
             "root":{"path":"rootfs"}}
            """);
        var records = RuntimeRecords.Containers(dir.Sub("records"));
        var specs = new ExecProcessSpecs(records);
        var c = new ContainerRecord
        {
            Id = "c1", SandboxId = "p", ImageId = "i", RuntimeHandler = "runc", BundleDir = bundle, LayerDir = bundle,
            Spec = new ContainerSpec { Name = "c", Image = "busybox" },
        };
        using var doc = JsonDocument.Parse(specs.Build(c, ["sh", "-c", "echo \"hi\""], tty: false));
        var p = doc.RootElement;
        Assert.Equal(["sh", "-c", "echo \"hi\""], p.GetProperty("args").EnumerateArray().Select(a => a.GetString()!));
        Assert.False(p.GetProperty("terminal").GetBoolean());
        Assert.False(p.TryGetProperty("consoleSize", out _));
        Assert.Equal(1234, p.GetProperty("user").GetProperty("uid").GetInt32());
        Assert.Equal(7, p.GetProperty("user").GetProperty("additionalGids")[0].GetInt32());
        Assert.Equal("/work", p.GetProperty("cwd").GetString());
        Assert.Contains("FOO=bar", p.GetProperty("env").EnumerateArray().Select(v => v.GetString()));
        Assert.Equal("CAP_CHOWN", p.GetProperty("capabilities").GetProperty("bounding")[0].GetString());
        Assert.True(p.GetProperty("noNewPrivileges").GetBoolean());
        Assert.Equal("p", p.GetProperty("apparmorProfile").GetString());
        Assert.Equal(1, p.GetProperty("futureField").GetProperty("x").GetInt32());

        using var tty = JsonDocument.Parse(specs.Build(c, ["sh"], tty: true));
        Assert.True(tty.RootElement.GetProperty("terminal").GetBoolean());

        var file = specs.WriteFile(c, ["true"], tty: false);
        Assert.StartsWith(bundle + "/exec-", file);
        Assert.True(File.Exists(file));
    }
}
