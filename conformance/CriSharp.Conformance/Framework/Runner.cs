using System.Diagnostics;
using System.Text.RegularExpressions;
using Grpc.Core;

namespace CriSharp.Conformance.Framework;

public sealed record RunnerOptions(Endpoint Endpoint, Regex? Focus, KnownFailures KnownFailures, TimeSpan CaseTimeout, string? TestRegistry = null);

/// <summary>Runs cases sequentially and prints one line per case plus a summary.</summary>
public sealed class Runner(RunnerOptions options, TextWriter output)
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(2);

    /// <summary>Runs the cases; returns the number of (unexpected) failures.</summary>
    public async Task<int> RunAsync(IReadOnlyList<ConformanceCase> cases)
    {
        int passed = 0, failed = 0, known = 0;
        using var channel = options.Endpoint.CreateChannel();

        foreach (var c in cases)
        {
            if (options.Focus is not null && !options.Focus.IsMatch(c.FullName))
            {
                continue;
            }

            var (error, elapsed) = await RunOneAsync(c, channel);
            var listed = options.KnownFailures.Contains(c.FullName);
            if (error is null)
            {
                passed++;
                output.WriteLine($"{(listed ? "XPASS" : "PASS ")} {c.FullName} ({elapsed.TotalMilliseconds:F0} ms)");
            }
            else if (listed)
            {
                known++;
                output.WriteLine($"XFAIL {c.FullName}: {error}");
            }
            else
            {
                failed++;
                output.WriteLine($"FAIL  {c.FullName}: {error}");
            }

            output.Flush();
        }

        if (known > 0)
        {
            output.WriteLine($"{known} known failure{(known == 1 ? "" : "s")} (see {options.KnownFailures.Path})");
        }

        output.WriteLine($"{passed} passed, {failed} failed");
        return failed;
    }

    private async Task<(string? Error, TimeSpan Elapsed)> RunOneAsync(ConformanceCase c, Grpc.Net.Client.GrpcChannel channel)
    {
        var timeout = options.CaseTimeout;
        using var cts = new CancellationTokenSource(timeout);
        var ctx = new CaseContext(options.Endpoint, channel, DateTime.UtcNow + timeout, cts.Token, options.TestRegistry);
        var sw = Stopwatch.StartNew();
        string? error = null;
        try
        {
            // Run on the thread pool so a case that blocks synchronously still times out.
            await Task.Run(() => c.Run(ctx), CancellationToken.None).WaitAsync(timeout + Grace);
        }
        catch (TimeoutException)
        {
            error = $"timed out after {timeout.TotalSeconds:F0} s";
        }
        catch (Exception e) when (cts.IsCancellationRequested && IsCancellation(e))
        {
            error = $"timed out after {timeout.TotalSeconds:F0} s";
        }
        catch (Exception e)
        {
            error = Describe(e);
        }

        sw.Stop();
        var cleanupError = await ctx.RunCleanupsAsync(timeout);
        if (cleanupError is not null)
        {
            error = error is null ? cleanupError : $"{error}; {cleanupError}";
        }

        return (error, sw.Elapsed);
    }

    private static bool IsCancellation(Exception e) =>
        e is OperationCanceledException ||
        e is RpcException { StatusCode: StatusCode.DeadlineExceeded or StatusCode.Cancelled };

    /// <summary>One-line description of why a case failed.</summary>
    public static string Describe(Exception e) => OneLine(e switch
    {
        CaseFailedException f => f.Message,
        RpcException r => $"unexpected gRPC error {r.StatusCode}: {r.Status.Detail}",
        AggregateException { InnerExceptions.Count: 1 } a => Describe(a.InnerExceptions[0]),
        _ => $"{e.GetType().Name}: {e.Message}",
    });

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}
