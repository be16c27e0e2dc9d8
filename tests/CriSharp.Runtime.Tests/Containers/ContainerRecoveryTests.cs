using CriSharp.Model;

namespace CriSharp.Runtime.Tests.Containers;

/// <summary>Recovery at start, one record state at a time, against what the (fake) runtime and the exit files say.</summary>
public sealed class ContainerRecoveryTests : IDisposable
{
    readonly LifecycleHarness _h = new();

    public void Dispose() => _h.Dispose();

    [Fact]
    public async Task A_running_container_the_runtime_still_runs_stays_running()
    {
        _h.Add("run", ContainerState.Running);

        await _h.Containers.RecoverAsync(CancellationToken.None);

        Assert.Equal(ContainerState.Running, _h.Records.Get("run")!.State);
    }

    [Fact]
    public async Task A_running_container_that_exited_meanwhile_gets_the_exit_files_code()
    {
        _h.Add("ended", ContainerState.Running);
        _h.Runtime.States["ended"] = new("stopped", 0, "");
        _h.Monitor.WriteExit("ended", 42);

        await _h.Containers.RecoverAsync(CancellationToken.None);

        var r = _h.Records.Get("ended")!;
        Assert.Equal((ContainerState.Exited, 42, "Error"), (r.State, r.ExitCode, r.Reason));
    }

    [Fact]
    public async Task A_running_container_gone_without_an_exit_file_is_exited_unknown()
    {
        _h.Add("gone", ContainerState.Running);
        _h.Runtime.States.Clear();

        await _h.Containers.RecoverAsync(CancellationToken.None);

        var r = _h.Records.Get("gone")!;
        Assert.Equal((ContainerState.Exited, 255, "Unknown"), (r.State, r.ExitCode, r.Reason));
    }

    [Fact]
    public async Task A_created_container_the_runtime_holds_stays_created()
    {
        _h.Add("made", ContainerState.Created);
        _h.Runtime.States["made"] = new("created", 4243, "");

        await _h.Containers.RecoverAsync(CancellationToken.None);

        Assert.Equal(ContainerState.Created, _h.Records.Get("made")!.State);
    }

    [Fact]
    public async Task An_exited_container_is_left_as_recorded()
    {
        var before = _h.Add("done", ContainerState.Exited) with { };
        _h.Records.Update("done", r => r with { ExitCode = 7, Reason = "Error", FinishedAt = 3_000 });

        await _h.Containers.RecoverAsync(CancellationToken.None);

        var r = _h.Records.Get("done")!;
        Assert.Equal((ContainerState.Exited, 7, "Error", 3_000L), (r.State, r.ExitCode, r.Reason, r.FinishedAt));
        Assert.Empty(_h.Runtime.Deletes);
        Assert.True(Directory.Exists(before.BundleDir));
    }

    [Fact]
    public async Task A_container_whose_handler_binary_is_missing_keeps_its_last_known_state()
    {
        _h.Add("orphan", ContainerState.Running);
        _h.Runtime.BinaryMissing = true;

        await _h.Containers.RecoverAsync(CancellationToken.None);

        Assert.Equal(ContainerState.Running, _h.Records.Get("orphan")!.State);
    }

    [Fact]
    public async Task A_bundle_without_a_record_is_removed_and_a_recorded_one_stays()
    {
        var kept = _h.Add("kept", ContainerState.Running);
        var leftover = Directory.CreateDirectory(Path.Combine(_h.Containers.ContainersStateDir, "half-made")).FullName;

        await _h.Containers.RecoverAsync(CancellationToken.None);

        Assert.False(Directory.Exists(leftover), "the half-made container's bundle is still there");
        Assert.True(Directory.Exists(kept.BundleDir));
        Assert.Contains("half-made", _h.Runtime.Deletes);
    }

    [Fact]
    public async Task A_removal_cut_short_is_finished_after_recovery()
    {
        var c = _h.Add("rm", ContainerState.Exited);
        _h.Records.Update("rm", r => r with { Removing = true });
        _h.Monitor.WriteExit("rm", 0);

        await _h.Containers.RecoverAsync(CancellationToken.None);
        await _h.Containers.FinishInterruptedRemovesAsync();

        Assert.Null(_h.Records.Get("rm"));
        Assert.Equal(["rm"], _h.Runtime.Deletes);
        Assert.False(Directory.Exists(c.BundleDir), "the bundle of the removed container is still there");
        Assert.False(File.Exists(Path.Combine(_h.Monitor.ExitDir, "rm")), "its exit file is still there");
    }

    [Fact]
    public async Task A_running_container_whose_removal_was_cut_short_is_killed_then_removed()
    {
        _h.Add("rm-run", ContainerState.Running);
        _h.Records.Update("rm-run", r => r with { Removing = true });
        _h.Exits.Start();
        _h.Runtime.OnKill = (id, _) => { _h.Monitor.WriteExit(id, 137); return Task.CompletedTask; };

        await _h.Containers.RecoverAsync(CancellationToken.None);
        await _h.Containers.FinishInterruptedRemovesAsync();

        Assert.Equal([("rm-run", 9, true)], _h.Runtime.Kills);
        Assert.Null(_h.Records.Get("rm-run"));
    }
}
