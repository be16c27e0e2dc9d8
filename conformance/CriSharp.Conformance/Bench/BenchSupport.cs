using Grpc.Core;

namespace CriSharp.Conformance.Bench;

/// <summary>A check of a bench that did not hold (as opposed to an RPC that failed).</summary>
internal sealed class BenchException(string message) : Exception(message);

/// <summary>Small helpers the benches share: their statistics, throttled fan-out and error text.</summary>
internal static class BenchSupport
{
    /// <summary>The median of <paramref name="values"/> (the mean of the middle two for an even count).</summary>
    public static double Median(IEnumerable<double> values) => MedianP95(values).Median;

    /// <summary>Median and p95 (nearest rank) of <paramref name="values"/>, which must not be empty.</summary>
    public static (double Median, double P95) MedianP95(IEnumerable<double> values)
    {
        var v = values.Order().ToList();
        var median = v.Count % 2 == 1 ? v[v.Count / 2] : (v[(v.Count / 2) - 1] + v[v.Count / 2]) / 2;
        var p95 = v[Math.Max(0, (int)Math.Ceiling(0.95 * v.Count) - 1)];
        return (median, p95);
    }

    /// <summary>
    /// Runs <paramref name="body"/> for every item, at most <paramref name="limit"/> at a time (as the kubelet
    /// starts pods in parallel without flooding the runtime), and waits for all of them.
    /// </summary>
    public static async Task ThrottledAsync<T>(IEnumerable<T> items, int limit, Func<T, Task> body)
    {
        using var throttle = new SemaphoreSlim(limit);
        await Task.WhenAll(items.Select(async item =>
        {
            await throttle.WaitAsync();
            try
            {
                await body(item);
            }
            finally
            {
                throttle.Release();
            }
        }));
    }

    /// <summary>An error for the bench's one-line report: an RPC error as its status code and detail.</summary>
    public static string Describe(Exception e) => e is RpcException r ? $"{r.StatusCode}: {r.Status.Detail}" : e.Message;
}
