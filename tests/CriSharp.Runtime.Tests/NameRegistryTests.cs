namespace CriSharp.Runtime.Tests;

/// <summary>Reserved names: joined creates, callers that give up, and results no caller received.</summary>
public sealed class NameRegistryTests
{
    [Fact]
    public async Task A_caller_that_gives_up_neither_stops_the_create_nor_loses_its_result()
    {
        var names = new NameRegistry();
        var release = new TaskCompletionSource();
        var runs = 0;
        async Task<string> Create()
        {
            Interlocked.Increment(ref runs);
            await release.Task;
            return "id-1";
        }
        using var cts = new CancellationTokenSource();
        var first = names.CreateAsync("pod", Create, cts.Token);
        var joined = names.CreateAsync("pod", Create);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        release.SetResult();
        Assert.Equal(("id-1", CreateOutcome.JoinedInFlight), await joined);
        Assert.Equal(1, runs);
        // The caller that gave up retries and gets it; after that, the name is taken.
        Assert.Equal(("id-1", CreateOutcome.JoinedInFlight), await names.CreateAsync("pod", Create));
        Assert.Equal(("id-1", CreateOutcome.AlreadyExists), await names.CreateAsync("pod", Create));
        Assert.Equal(1, runs);
    }

    [Fact]
    public async Task A_result_no_caller_received_goes_to_the_next_create_once()
    {
        var names = new NameRegistry();
        var release = new TaskCompletionSource();
        using var cts = new CancellationTokenSource();
        var gaveUp = names.CreateAsync("pod", async () => { await release.Task; return "id-2"; }, cts.Token);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gaveUp);
        release.SetResult();
        while (names.OwnerOf("pod") is null) await Task.Delay(5);
        Assert.Equal(("id-2", CreateOutcome.JoinedInFlight), await names.CreateAsync("pod", () => throw new InvalidOperationException("must not run")));
        Assert.Equal(("id-2", CreateOutcome.AlreadyExists), await names.CreateAsync("pod", () => throw new InvalidOperationException("must not run")));
        // After removal the name is free again.
        names.Release("pod", "id-2");
        Assert.Equal(("id-3", CreateOutcome.Created), await names.CreateAsync("pod", () => Task.FromResult("id-3")));
    }

    [Fact]
    public async Task Each_caller_that_gave_up_leaves_one_answer_for_a_later_identical_create()
    {
        var names = new NameRegistry();
        var release = new TaskCompletionSource();
        using var cts = new CancellationTokenSource();
        var gaveUp = names.CreateAsync("pod", async () => { await release.Task; return "id-4"; }, cts.Token);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gaveUp);
        var retry = names.CreateAsync("pod", () => throw new InvalidOperationException("must not run"));
        release.SetResult();
        Assert.Equal(("id-4", CreateOutcome.JoinedInFlight), await retry);
        // Whether the joined call was the retry cannot be known: one more identical create still gets the id (kubelet
        // sends no true duplicates, so erring this way costs nothing), then the name is taken.
        Assert.Equal(("id-4", CreateOutcome.JoinedInFlight), await names.CreateAsync("pod", () => throw new InvalidOperationException("must not run")));
        Assert.Equal(("id-4", CreateOutcome.AlreadyExists), await names.CreateAsync("pod", () => throw new InvalidOperationException("must not run")));
    }

    [Fact]
    public async Task A_failed_create_fails_every_waiter_and_frees_the_name()
    {
        var names = new NameRegistry();
        var release = new TaskCompletionSource();
        var a = names.CreateAsync("c", async () => { await release.Task; throw new IOException("disk"); });
        var b = names.CreateAsync("c", () => Task.FromResult("never"));
        release.SetResult();
        await Assert.ThrowsAsync<IOException>(() => a);
        await Assert.ThrowsAsync<IOException>(() => b);
        Assert.Null(names.OwnerOf("c"));
        Assert.Equal(("ok", CreateOutcome.Created), await names.CreateAsync("c", () => Task.FromResult("ok")));
    }
}
