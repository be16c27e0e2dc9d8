using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace CriSharp.Daemon.Http2;

/// <summary>Adds the <c>:authority</c> rewriting connection middleware to a Kestrel listener.</summary>
public static class AuthorityRewriteExtensions
{
    /// <summary>
    /// Rewrites request <c>:authority</c>/<c>host</c> values Kestrel would reject (such as the socket path older
    /// grpc-go clients send) to <c>localhost</c> before Kestrel's HTTP/2 parser sees them. Add it after any
    /// <c>UseHttps</c>, since it must see plaintext HTTP/2.
    /// </summary>
    public static ListenOptions UseAuthorityRewrite(this ListenOptions listenOptions)
    {
        ArgumentNullException.ThrowIfNull(listenOptions);
        listenOptions.Use(next => connection => AuthorityRewriteMiddleware.OnConnectionAsync(connection, next, listenOptions));
        return listenOptions;
    }
}

/// <summary>Runs one connection through <see cref="Http2FrameRewriter"/>.</summary>
internal static class AuthorityRewriteMiddleware
{
    public static async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next, ListenOptions listenOptions)
    {
        // Read per connection: the server options are final by the time connections arrive.
        var limits = ReadLimits(listenOptions);
        var original = connection.Transport;

        // The pause threshold must exceed a whole frame: Kestrel examines without consuming until a full
        // frame is buffered, so a smaller threshold could stall the pump forever.
        var pause = Math.Max(1024L * 1024, 2L * (limits.MaxFrameSize + 9));
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: pause, resumeWriterThreshold: pause / 2, useSynchronizationContext: false));
        var rewriter = new Http2FrameRewriter(limits);
        var pump = PumpAsync(original.Input, pipe.Writer, rewriter);

        connection.Transport = new RewrittenTransport(pipe.Reader, original.Output);
        try
        {
            await next(connection).ConfigureAwait(false);
        }
        finally
        {
            connection.Transport = original;

            // The pump may be parked in ReadAsync on a socket nobody reads anymore; wake it so it ends.
            try
            {
                original.Input.CancelPendingRead();
            }
            catch (InvalidOperationException)
            {
                // Already completed by the pump.
            }

            await pump.ConfigureAwait(false);
        }
    }

    internal static Http2RewriterLimits ReadLimits(ListenOptions listenOptions)
    {
        var limits = listenOptions.KestrelServerOptions?.Limits;
        if (limits is null)
        {
            return new Http2RewriterLimits();
        }

        // Kestrel counts the whole header list against MaxRequestHeadersTotalSize; twice that leaves room
        // so that Kestrel, not the rewriter, is the one that refuses an oversized request.
        return new Http2RewriterLimits(
            limits.Http2.HeaderTableSize,
            limits.Http2.MaxFrameSize,
            (int)Math.Min(int.MaxValue / 4, Math.Max(64L * 1024, 2L * limits.MaxRequestHeadersTotalSize)));
    }

    internal static async Task PumpAsync(PipeReader input, PipeWriter output, Http2FrameRewriter rewriter)
    {
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break;
                }

                var buffer = result.Buffer;
                foreach (var segment in buffer)
                {
                    rewriter.Process(segment.Span, output);
                }

                input.AdvanceTo(buffer.End);
                var flush = await output.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled || result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            // Transport errors (connection reset and the like) reach Kestrel as they would have directly.
            error = ex;
        }

        await output.CompleteAsync(error).ConfigureAwait(false);
        await input.CompleteAsync().ConfigureAwait(false);
    }

    private sealed class RewrittenTransport(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
