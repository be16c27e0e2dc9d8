using System.Diagnostics;

using CriSharp.Mechanism.Processes;

namespace CriSharp.Runtime.Tests.Mechanism.Processes;

/// <summary>The one process runner: output capture, failures, timeouts, cancellation, daemonising grandchildren, fd handover.</summary>
public sealed class ProcessRunnerTests
{
    static readonly TimeSpan Long = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task CapturesOutput_Stdin_AndEnvironment()
    {
        var r = await ProcessRunner.RunAsync("/bin/sh", ["-c", "cat; echo \"$FOO\"; echo oops >&2; exit 4"], Long, default,
            new Dictionary<string, string> { ["FOO"] = "bar" }, "in\n");
        Assert.Equal(4, r.ExitCode);
        Assert.Equal("in\nbar\n", r.Stdout);
        Assert.Equal("oops\n", r.Stderr);
        var e = Assert.Throws<ExternalProgramException>(() => r.ThrowIfFailed("doing things"));
        Assert.Contains("doing things", e.Message);
        Assert.Contains("/bin/sh", e.Message);
        Assert.Contains("code 4", e.Message);
        Assert.EndsWith(": oops", e.Message);
        Assert.Equal(4, e.ExitCode);
    }

    [Fact]
    public async Task GrandchildHoldingStdout_DoesNotHangTheRunner()
    {
        var sw = Stopwatch.StartNew();
        var r = await ProcessRunner.RunAsync("/bin/sh", ["-c", "sleep 30 & echo started"], Long, default);
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("started\n", r.Stdout);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");
    }

    [Fact]
    public async Task Timeout_KillsTheTree_AndSaysSo()
    {
        var sw = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<ExternalProgramException>(() =>
            ProcessRunner.RunAsync("/bin/sh", ["-c", "echo pre >&2; sleep 30; echo never"], TimeSpan.FromMilliseconds(500), default));
        Assert.True(e.TimedOut);
        Assert.Contains("timed out after 0.5s", e.Message);
        Assert.Contains("pre", e.Stderr);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");
    }

    [Fact]
    public async Task Cancellation_Throws_OperationCanceled()
    {
        using var cts = new CancellationTokenSource(300);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ProcessRunner.RunAsync("/bin/sleep", ["30"], Long, cts.Token));
    }

    [Fact]
    public async Task MissingProgram_IsAnExternalProgramException()
    {
        var e = await Assert.ThrowsAsync<ExternalProgramException>(() => ProcessRunner.RunAsync("/nonexistent/prog", [], Long, default));
        Assert.Contains("/nonexistent/prog", e.Message);
    }

    [Fact]
    public async Task InheritedFd_ReachesTheChild_UnderItsNumber_AndStaysCloexecHere()
    {
        var (readFd, writeFd) = CriSharp.Linux.Pipes.Create();
        try
        {
            var r = await ProcessRunner.RunAsync("/bin/sh", ["-c", $"echo hello > /proc/self/fd/{writeFd}"], Long, default,
                new ProcessOptions { InheritedFds = [writeFd] });
            Assert.True(r.ExitCode == 0, r.Stderr);
            Assert.False(CriSharp.Linux.Pipes.IsInheritable(writeFd));
            // An ordinary spawn does not get it.
            var other = await ProcessRunner.RunAsync("/bin/sh", ["-c", $"test -e /proc/self/fd/{writeFd} && echo leaked || echo clean"], Long, default);
            Assert.Equal("clean\n", other.Stdout);
            CriSharp.Linux.Pipes.Close(writeFd);
            writeFd = -1;
            using var stream = new System.IO.Pipes.AnonymousPipeClientStream(System.IO.Pipes.PipeDirection.In,
                new Microsoft.Win32.SafeHandles.SafePipeHandle(readFd, ownsHandle: true));
            readFd = -1;
            Assert.Equal("hello\n", await new StreamReader(stream).ReadToEndAsync());
        }
        finally
        {
            CriSharp.Linux.Pipes.Close(readFd);
            CriSharp.Linux.Pipes.Close(writeFd);
        }
    }
}
