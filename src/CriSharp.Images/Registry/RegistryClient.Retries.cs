using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace CriSharp.Images.Registry;

public sealed partial class RegistryClient
{
    private const int MaxErrorBodyBytes = 16 * 1024;

    /// <summary>A 429 or 5xx answer: worth another attempt.</summary>
    private sealed class TransientStatusException(string message) : Exception(message);

    private static bool IsTransientStatus(HttpStatusCode status) => (int)status is 429 or >= 500;

    /// <summary>Turns a non-success answer into the error it means (429/5xx become retryable).</summary>
    private async Task<Exception> StatusErrorAsync(HttpResponseMessage response, string what, CancellationToken ct)
    {
        var code = (int)response.StatusCode;
        var detail = await ErrorDetailAsync(response, ct).ConfigureAwait(false);
        if (IsTransientStatus(response.StatusCode)) return new TransientStatusException($"{what}: HTTP {code}{detail}");
        return response.StatusCode switch
        {
            HttpStatusCode.NotFound => new RegistryException(RegistryErrorKind.NotFound, $"{what}: not found (HTTP 404{detail})"),
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden =>
                new RegistryException(RegistryErrorKind.Unauthenticated, $"{what}: access denied (HTTP {code}{detail})"),
            _ => new RegistryException(RegistryErrorKind.Network, $"{what}: unexpected HTTP {code} {response.ReasonPhrase}{detail}"),
        };
    }

    /// <summary>": CODE message" from a distribution error body, or "" when there is none.</summary>
    private static async Task<string> ErrorDetailAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            var body = await ReadCappedAsync(response, MaxErrorBodyBytes, "error body", ct).ConfigureAwait(false);
            var errors = JsonSerializer.Deserialize(body, RegistryJsonContext.Default.ErrorsDocument)?.Errors;
            return errors is { Count: > 0 } ? ": " + Clip(string.Join("; ", errors.Select(e => $"{e.Code} {e.Message}".Trim()))) : "";
        }
        catch (Exception e) when (e is JsonException or RegistryException or IOException or HttpRequestException)
        {
            return "";
        }
    }

    /// <summary>Retries transient failures of a small request with exponential backoff; each attempt has a timeout.</summary>
    private async Task<T> WithRetriesAsync<T>(string what, Func<CancellationToken, Task<T>> attempt, CancellationToken ct)
    {
        for (int n = 1; ; n++)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.RequestTimeout);
            try
            {
                return await attempt(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (!ct.IsCancellationRequested && IsRetryable(e))
            {
                if (!IsTransient(e) || n >= _options.MaxAttempts) throw NetworkError(e, what, n);
                var delay = Backoff(n);
                _log.Debug("{What}: attempt {Attempt} failed ({Error}); retrying in {Delay} ms", what, n, Flatten(e), (long)delay.TotalMilliseconds);
                await Task.Delay(delay, ct).ConfigureAwait(false);
            }
        }
    }

    private static bool IsRetryable(Exception e) =>
        e is HttpRequestException or IOException or OperationCanceledException or TransientStatusException;

    /// <summary>Whether another attempt may succeed: resets, timeouts, 5xx/429 yes; refused, DNS, TLS no.</summary>
    private static bool IsTransient(Exception e) => e switch
    {
        TransientStatusException => true,
        OperationCanceledException => true,
        HttpRequestException h => h.HttpRequestError switch
        {
            HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError
                or HttpRequestError.ConfigurationLimitExceeded or HttpRequestError.UserAuthenticationError
                or HttpRequestError.ProxyTunnelError or HttpRequestError.VersionNegotiationError
                or HttpRequestError.InvalidResponse => false,
            HttpRequestError.ConnectionError => h.InnerException is not SocketException { SocketErrorCode: SocketError.ConnectionRefused },
            _ => true,
        },
        IOException => true,
        _ => false,
    };

    private RegistryException NetworkError(Exception e, string what, int attempts)
    {
        var after = attempts > 1 ? $" (after {attempts} attempts)" : "";
        return e switch
        {
            OperationCanceledException => new RegistryException(RegistryErrorKind.Network,
                $"{what}: no answer within {_options.RequestTimeout.TotalSeconds:0.#} s{after}", e),
            TransientStatusException => new RegistryException(RegistryErrorKind.Network, e.Message + after, e),
            _ => new RegistryException(RegistryErrorKind.Network, $"{what}: {Flatten(e)}{after}", e),
        };
    }

    private TimeSpan Backoff(int failedAttempts)
    {
        var ms = _options.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, failedAttempts - 1);
        return TimeSpan.FromMilliseconds(Math.Min(ms, _options.MaxRetryDelay.TotalMilliseconds));
    }

    /// <summary>The messages of an exception and its causes, e.g. "connection refused (127.0.0.1:5000)".</summary>
    private static string Flatten(Exception e)
    {
        var parts = new List<string>();
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (!parts.Contains(x.Message)) parts.Add(x.Message);
        return string.Join(": ", parts);
    }

    private static string Clip(string? s, int max = 200) =>
        s is null ? "" : s.Length <= max ? s : s[..max] + "…";

    /// <summary>Reads a body of at most <paramref name="cap"/> bytes (reading cap+1 to notice more); more is Hostile.</summary>
    private static async Task<byte[]> ReadCappedAsync(HttpResponseMessage response, int cap, string what, CancellationToken ct)
    {
        if (response.Content.Headers.ContentLength is long announced && announced > cap)
            throw new RegistryException(RegistryErrorKind.Hostile, $"{what} is {announced} bytes, over the {cap}-byte limit");
        await using var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        while (true)
        {
            var read = await stream.ReadAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, cap + 1L - buffer.Length)), ct).ConfigureAwait(false);
            if (read == 0) break;
            buffer.Write(chunk, 0, read);
            if (buffer.Length > cap)
                throw new RegistryException(RegistryErrorKind.Hostile, $"{what} is over the {cap}-byte limit");
        }
        return buffer.ToArray();
    }
}
