using System.Diagnostics.Metrics;
using Grpc.Core;

namespace CriSharp.Cri;

/// <summary>Per-RPC instruments on the "CriSharp" meter, recorded by <see cref="CallLoggingInterceptor"/>.</summary>
public static class CriMetrics
{
    static readonly Meter Meter = new("CriSharp");

    /// <summary>Duration of every CRI call in seconds; tags: service, method.</summary>
    public static readonly Histogram<double> RequestDuration =
        Meter.CreateHistogram<double>("crisharp.grpc.request_duration", unit: "s", description: "Duration of CRI calls.");

    /// <summary>CRI calls that ended with a status other than OK; tags: service, method, code.</summary>
    public static readonly Counter<long> RequestErrors =
        Meter.CreateCounter<long>("crisharp.grpc.request_errors", description: "CRI calls that ended with a non-OK status.");

    /// <summary>Records one finished call; <paramref name="fullMethod"/> is the gRPC path "/runtime.v1.RuntimeService/Version".</summary>
    public static void Record(string fullMethod, StatusCode code, TimeSpan duration)
    {
        var parts = fullMethod.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var service = parts.Length == 2 ? parts[0][(parts[0].LastIndexOf('.') + 1)..] : "";
        var method = parts.Length == 2 ? parts[1] : fullMethod;
        var serviceTag = new KeyValuePair<string, object?>("service", service);
        var methodTag = new KeyValuePair<string, object?>("method", method);
        RequestDuration.Record(duration.TotalSeconds, serviceTag, methodTag);
        if (code != StatusCode.OK)
            RequestErrors.Add(1, serviceTag, methodTag, new KeyValuePair<string, object?>("code", code.ToString()));
    }
}
