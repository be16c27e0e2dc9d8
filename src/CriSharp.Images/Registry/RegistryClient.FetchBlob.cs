using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using CriSharp.Images.Content;

namespace CriSharp.Images.Registry;

public sealed partial class RegistryClient
{
    /// <summary>
    /// Appends <paramref name="blob"/> to <paramref name="target"/> from <c>target.Length</c> on (Range
    /// request), from the endpoint the image was resolved at. Transient failures are retried with backoff,
    /// resuming each time; too little progress per window fails with <see cref="RegistryErrorKind.Stalled"/>.
    /// The caller (content store) verifies the digest.
    /// </summary>
    /// <exception cref="RegistryException">The blob could not be fetched; the kind says why.</exception>
    public async Task FetchBlobAsync(ResolvedImage image, Descriptor blob, IngestTarget target, CancellationToken ct)
    {
        var state = await PrepareAsync(image.Endpoint, $"blob {blob.Digest} of {image.Reference}", ct).ConfigureAwait(false);
        var scope = new RequestScope(image.Endpoint, state, image.Reference.Repository, image.Credentials);
        var what = scope.Describe("blob", blob.Digest.ToString());
        // One detector for the whole fetch, retries included: reconnecting forever without bytes is a stall too.
        using var stall = new StallDetector(_options.ProgressWindow, _options.RequiredBytesPerWindow);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, stall.Token);
        int failures = 0;
        while (true)
        {
            var before = target.Length;
            try
            {
                await FetchBlobOnceAsync(scope, blob, target, stall, what, linked.Token).ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (e is not RegistryException && stall.Stalled && !ct.IsCancellationRequested)
            {
                throw StalledError(what, blob, target, stall);
            }
            catch (Exception e) when (!ct.IsCancellationRequested && IsRetryable(e))
            {
                // An attempt that moved the download forward earns a fresh set of attempts.
                if (target.Length > before) failures = 0;
                failures++;
                if (!IsTransient(e) || failures >= _options.MaxAttempts) throw NetworkError(e, what, failures);
                var delay = Backoff(failures);
                _log.Debug("{What}: attempt failed at {Offset} of {Size} bytes ({Error}); retrying in {Delay} ms",
                    what, target.Length, blob.Size, Flatten(e), (long)delay.TotalMilliseconds);
                try
                {
                    await Task.Delay(delay, linked.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stall.Stalled && !ct.IsCancellationRequested)
                {
                    throw StalledError(what, blob, target, stall);
                }
            }
        }
    }

    private static RegistryException StalledError(string what, Descriptor blob, IngestTarget target, StallDetector stall) =>
        new(RegistryErrorKind.Stalled,
            $"{what}: download stalled: {stall.BytesInStalledWindow} bytes arrived in the last {stall.Window.TotalSeconds:0.###} s window " +
            $"(at least {stall.RequiredBytes} required); received {target.Length} of {blob.Size} bytes");

    /// <summary>One GET: resumes at target.Length, or starts over if the server ignores the Range.</summary>
    private async Task FetchBlobOnceAsync(RequestScope scope, Descriptor blob, IngestTarget target, StallDetector stall,
        string what, CancellationToken ct)
    {
        var offset = ResumeOffset(blob, target);
        if (offset == blob.Size)
        {
            await using (target.OpenAppend()) { } // a zero-size blob still needs its (empty) file
            return;
        }
        var uri = scope.Endpoint.BlobUri(scope.Repository, blob.Digest);
        using var response = await SendAsync(scope, uri, request =>
        {
            if (offset > 0) request.Headers.Range = new RangeHeaderValue(offset, null);
        }, what, ct).ConfigureAwait(false);
        var start = await AnsweredOffsetAsync(response, offset, target, what, ct).ConfigureAwait(false);
        await AppendBodyAsync(response, blob, target, start, stall, what, ct).ConfigureAwait(false);
    }

    /// <summary>Where the download resumes: the partial file's length, or 0 (truncated) if it is longer than the blob.</summary>
    private static long ResumeOffset(Descriptor blob, IngestTarget target)
    {
        var length = target.Length;
        if (length <= blob.Size) return length;
        target.Truncate();
        return 0;
    }

    /// <summary>
    /// The offset the answer's body starts at: the requested one for a matching 206, 0 for a 200 (the file is
    /// truncated to start over). A mismatched range or a 416 truncates the file and fails the attempt.
    /// </summary>
    private async Task<long> AnsweredOffsetAsync(HttpResponseMessage response, long offset, IngestTarget target, string what, CancellationToken ct)
    {
        switch (response.StatusCode)
        {
            case HttpStatusCode.PartialContent:
                var from = response.Content.Headers.ContentRange?.From;
                if (from != offset && !(from is null && offset == 0))
                {
                    target.Truncate();
                    throw new IOException($"asked for bytes from {offset} but the registry answered with a range from {from?.ToString() ?? "(none)"}");
                }
                return offset;
            case HttpStatusCode.OK:
                if (offset == 0) return 0;
                _log.Debug("{What}: the server ignored the Range request; starting over", what);
                target.Truncate();
                return 0;
            case HttpStatusCode.RequestedRangeNotSatisfiable:
                target.Truncate();
                throw new IOException($"the registry refused the range from byte {offset} (HTTP 416); starting over");
            default:
                throw await StatusErrorAsync(response, what, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Appends the body (the blob from <paramref name="offset"/> on) to the target, refusing more bytes than the blob has.</summary>
    private static async Task AppendBodyAsync(HttpResponseMessage response, Descriptor blob, IngestTarget target, long offset,
        StallDetector stall, string what, CancellationToken ct)
    {
        var remaining = blob.Size - offset;
        if (response.Content.Headers.ContentLength is long announced && announced > remaining)
            throw new RegistryException(RegistryErrorKind.Hostile,
                $"{what}: the registry announced {announced} bytes from offset {offset}, but the blob is only {blob.Size} bytes");

        await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        await using var file = target.OpenAppend();
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            while (true)
            {
                // Ask for one byte more than is left, so a server sending too much is noticed.
                var read = await body.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, remaining + 1)), ct).ConfigureAwait(false);
                if (read == 0) break;
                if (read > remaining)
                    throw new RegistryException(RegistryErrorKind.Hostile,
                        $"{what}: the registry sent more than the {blob.Size} bytes the descriptor declares");
                await file.WriteAsync(buffer.AsMemory(0, read), ct).ConfigureAwait(false);
                remaining -= read;
                stall.Report(read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (remaining > 0)
            throw new IOException($"the connection ended after {blob.Size - remaining} of {blob.Size} bytes");
    }
}
