using CriSharp.Model;

namespace CriSharp.Runtime.Tests.Containers;

/// <summary>StopContainer and exit recording through the seams: what is signalled, when, and what the record says after.</summary>
public sealed class ContainerStopTests : IDisposable
{
    readonly LifecycleHarness _h = new(killGrace: TimeSpan.FromMilliseconds(300));

    public ContainerStopTests() => _h.Exits.Start();

    public void Dispose() => _h.Dispose();

    [Fact]
    public async Task A_process_that_ignores_the_stop_signal_gets_SIGKILL_after_the_timeout()
    {
        _h.Add("c1", ContainerState.Running, stopSignal: 15);
        _h.Runtime.OnKill = (id, signal) =>
        {
            if (signal == 9) _h.Monitor.WriteExit(id, 137);
            return Task.CompletedTask;
        };

        await _h.Containers.StopAsync("c1", timeoutSeconds: 1, CancellationToken.None);

        Assert.Equal([("c1", 15, false), ("c1", 9, true)], _h.Runtime.Kills);
        var r = _h.Records.Get("c1")!;
        Assert.Equal(ContainerState.Exited, r.State);
        Assert.Equal(137, r.ExitCode);
        Assert.Equal("Error", r.Reason);
    }

    [Fact]
    public async Task A_process_that_exits_on_the_stop_signal_gets_no_SIGKILL()
    {
        _h.Add("c2", ContainerState.Running, stopSignal: 3);
        _h.Runtime.OnKill = (id, signal) =>
        {
            if (signal == 3) _h.Monitor.WriteExit(id, 0);
            return Task.CompletedTask;
        };

        await _h.Containers.StopAsync("c2", timeoutSeconds: 30, CancellationToken.None);

        Assert.Equal([("c2", 3, false)], _h.Runtime.Kills);
        var r = _h.Records.Get("c2")!;
        Assert.Equal((ContainerState.Exited, 0, "Completed"), (r.State, r.ExitCode, r.Reason));
    }

    [Fact]
    public async Task Timeout_zero_kills_every_process_at_once()
    {
        _h.Add("c3", ContainerState.Running);
        _h.Runtime.OnKill = (id, _) => { _h.Monitor.WriteExit(id, 137); return Task.CompletedTask; };

        await _h.Containers.StopAsync("c3", timeoutSeconds: 0, CancellationToken.None);

        Assert.Equal([("c3", 9, true)], _h.Runtime.Kills);
        Assert.Equal(ContainerState.Exited, _h.Records.Get("c3")!.State);
    }

    [Fact]
    public async Task Without_an_exit_file_the_runtime_state_decides_after_SIGKILL()
    {
        _h.Add("c4", ContainerState.Running);
        _h.Runtime.OnKill = (id, signal) =>
        {
            if (signal == 9) _h.Runtime.States[id] = new("stopped", 0, "");
            return Task.CompletedTask;
        };

        await _h.Containers.StopAsync("c4", timeoutSeconds: 0, CancellationToken.None);

        var r = _h.Records.Get("c4")!;
        Assert.Equal((ContainerState.Exited, 137, "Error"), (r.State, r.ExitCode, r.Reason));
    }

    [Fact]
    public async Task A_process_that_survives_SIGKILL_fails_the_stop_and_stays_running()
    {
        _h.Add("c5", ContainerState.Running);

        var e = await Assert.ThrowsAsync<WrongStateException>(() => _h.Containers.StopAsync("c5", 0, CancellationToken.None));

        Assert.Equal(ErrorKind.FailedPrecondition, e.Kind);
        Assert.Contains("did not stop", e.Message);
        Assert.Equal(ContainerState.Running, _h.Records.Get("c5")!.State);
    }

    [Fact]
    public async Task Stopping_a_created_container_deletes_it_and_records_it_never_started()
    {
        _h.Add("c6", ContainerState.Created);

        await _h.Containers.StopAsync("c6", 10, CancellationToken.None);
        await _h.Containers.StopAsync("c6", 10, CancellationToken.None);

        Assert.Empty(_h.Runtime.Kills);
        Assert.Equal(["c6"], _h.Runtime.Deletes);
        var r = _h.Records.Get("c6")!;
        Assert.Equal((ContainerState.Exited, ContainerRecord.NeverStartedReason), (r.State, r.Reason));
    }

    [Fact]
    public async Task Stop_of_an_unknown_container_is_NotFound()
    {
        var e = await Assert.ThrowsAsync<ObjectNotFoundException>(() => _h.Containers.StopAsync("nope", 0, CancellationToken.None));
        Assert.Equal(ErrorKind.NotFound, e.Kind);
    }

    [Fact]
    public async Task An_exit_file_is_recorded_with_its_code_and_time()
    {
        _h.Add("c7", ContainerState.Running);

        _h.Monitor.WriteExit("c7", 3);
        var r = await _h.WaitForAsync("c7", r => r.State == ContainerState.Exited);

        Assert.Equal((ContainerState.Exited, 3, "Error"), (r.State, r.ExitCode, r.Reason));
        Assert.True(r.FinishedAt >= r.StartedAt, $"finished {r.FinishedAt} before started {r.StartedAt}");
        Assert.True(r.FinishedAt > 1_000_000_000_000_000_000L, $"finished at {r.FinishedAt} is not the exit file's time");
    }

    [Fact]
    public async Task Conmons_oom_marker_makes_the_exit_OOMKilled()
    {
        var c = _h.Add("c8", ContainerState.Running);
        File.WriteAllText(Path.Combine(c.BundleDir, "oom"), "");

        _h.Monitor.WriteExit("c8", 137);
        var r = await _h.WaitForAsync("c8", r => r.State == ContainerState.Exited);

        Assert.Equal((ContainerState.Exited, 137, "OOMKilled"), (r.State, r.ExitCode, r.Reason));
    }
}
