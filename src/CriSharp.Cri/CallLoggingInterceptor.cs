using System.Diagnostics;
using CriSharp.Model;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Serilog;
using Serilog.Events;

namespace CriSharp.Cri;

/// <summary>
/// One log line per CRI call (method, call id, duration, status) at Debug; failures at Warning
/// (caller's fault) or Error (ours); the status itself comes from <see cref="ErrorMapping"/>.
/// </summary>
public sealed class CallLoggingInterceptor(ILogger logger) : Interceptor
{
    static long _nextId;

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var id = Interlocked.Increment(ref _nextId);
        var sw = Stopwatch.StartNew();
        try
        {
            var response = await continuation(request, context);
            Done(context.Method, id, sw, StatusCode.OK, null);
            return response;
        }
        catch (Exception e)
        {
            throw Fail(context, id, sw, e);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var id = Interlocked.Increment(ref _nextId);
        var sw = Stopwatch.StartNew();
        logger.Debug("CRI {Method} call {CallId} stream opened", context.Method, id);
        try
        {
            await continuation(request, responseStream, context);
            Done(context.Method, id, sw, StatusCode.OK, null);
        }
        catch (Exception e)
        {
            throw Fail(context, id, sw, e);
        }
    }

    RpcException Fail(ServerCallContext context, long id, Stopwatch sw, Exception e)
    {
        var rpc = ErrorMapping.ToRpc(e, context);
        Done(context.Method, id, sw, rpc.StatusCode, rpc.Status.Detail, e is RpcException or CriSharpException ? null : e);
        return rpc;
    }

    void Done(string method, long id, Stopwatch sw, StatusCode code, string? detail, Exception? unexpected = null)
    {
        CriMetrics.Record(method, code, sw.Elapsed);
        var level = code switch
        {
            StatusCode.OK => LogEventLevel.Debug,
            // UNIMPLEMENTED is expected while RPCs land one issue at a time; NotFound is kubelet's normal probing.
            StatusCode.Unimplemented or StatusCode.NotFound or StatusCode.Cancelled => LogEventLevel.Debug,
            StatusCode.InvalidArgument or StatusCode.AlreadyExists or StatusCode.FailedPrecondition
                or StatusCode.DeadlineExceeded or StatusCode.ResourceExhausted => LogEventLevel.Warning,
            _ => LogEventLevel.Error,
        };
        if (detail == null)
            logger.Write(level, "CRI {Method} call {CallId} {Code} in {DurationMs:F1} ms", method, id, code, sw.Elapsed.TotalMilliseconds);
        else
            logger.Write(level, unexpected, "CRI {Method} call {CallId} {Code} in {DurationMs:F1} ms: {Detail}", method, id, code, sw.Elapsed.TotalMilliseconds, detail);
    }
}
