using System.Collections.Concurrent;
using System.Security.Cryptography;
using CriSharp.Model;

namespace CriSharp.Streaming;

/// <summary>
/// The one-time tokens in streaming URLs: 192 random bits, URL-safe, redeemable once, within a minute of issue.
/// </summary>
public sealed class SessionTokens(TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(1);
    /// <summary>Outstanding tokens beyond this are refused, as the kubelet's streaming server caps its request cache.</summary>
    public const int MaxPending = 1000;
    const int TokenBytes = 24;

    readonly ConcurrentDictionary<string, (StreamSessionRequest Request, DateTimeOffset Expires)> _pending = new(StringComparer.Ordinal);

    public SessionTokens() : this(TimeProvider.System) { }

    /// <summary>Issues a token for <paramref name="request"/>.</summary>
    /// <exception cref="StreamingBusyException">Too many tokens are outstanding.</exception>
    public string Issue(StreamSessionRequest request)
    {
        var now = time.GetUtcNow();
        if (_pending.Count >= MaxPending) RemoveExpired(now);
        if (_pending.Count >= MaxPending)
            throw new StreamingBusyException($"{MaxPending} streaming sessions are waiting for their clients; try again later");
        var token = Base64Url(RandomNumberGenerator.GetBytes(TokenBytes));
        _pending[token] = (request, now + Lifetime);
        return token;
    }

    /// <summary>Redeems a token: the request it was issued for, or null if unknown, already used or expired.</summary>
    public StreamSessionRequest? Redeem(string token)
    {
        if (!_pending.TryRemove(token, out var entry)) return null;
        return time.GetUtcNow() < entry.Expires ? entry.Request : null;
    }

    public int PendingCount => _pending.Count;

    void RemoveExpired(DateTimeOffset now)
    {
        foreach (var (token, entry) in _pending)
            if (entry.Expires <= now) _pending.TryRemove(token, out _);
    }

    static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>The streaming server cannot take another session right now (CRI: ResourceExhausted).</summary>
public sealed class StreamingBusyException(string message) : CriSharpException(ErrorKind.ResourceExhausted, message);
