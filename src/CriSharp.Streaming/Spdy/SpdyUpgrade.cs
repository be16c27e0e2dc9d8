using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace CriSharp.Streaming.Spdy;

/// <summary>
/// The HTTP/1.1 upgrade to SPDY/3.1 as Kubernetes does it: <c>Connection: Upgrade</c>, <c>Upgrade: SPDY/3.1</c>,
/// and the subprotocol chosen among the client's <c>X-Stream-Protocol-Version</c> headers, in the client's order.
/// </summary>
static class SpdyUpgrade
{
    public const string ProtocolVersionHeader = "X-Stream-Protocol-Version";
    public const string AcceptedVersionsHeader = "X-Accepted-Stream-Protocol-Versions";
    const string SpdyToken = "SPDY/3.1";

    public static bool IsRequested(HttpRequest request) =>
        HeaderTokens(request, "Connection").Contains("upgrade", StringComparer.OrdinalIgnoreCase) &&
        HeaderTokens(request, "Upgrade").Contains(SpdyToken, StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Picks the subprotocol; a client that names none gets <paramref name="legacyDefault"/>, as old kubelets allowed.
    /// Null (and 403 with the versions we accept already sent) when nothing matches.
    /// </summary>
    public static async Task<string?> NegotiateAsync(HttpContext context, IReadOnlyList<string> supported, string legacyDefault)
    {
        var offered = HeaderTokens(context.Request, ProtocolVersionHeader);
        if (offered.Count == 0) return legacyDefault;
        var chosen = offered.FirstOrDefault(p => supported.Contains(p, StringComparer.Ordinal));
        if (chosen != null) return chosen;
        context.Response.StatusCode = StatusCodes.Status403Forbidden;
        foreach (var p in supported) context.Response.Headers.Append(AcceptedVersionsHeader, p);
        await context.Response.WriteAsync($"unable to upgrade: unable to negotiate protocol: client supports [{string.Join(' ', offered)}], server accepts [{string.Join(' ', supported)}]\n");
        return null;
    }

    /// <summary>Answers 101 Switching Protocols and hands back the raw connection.</summary>
    public static async Task<Stream?> UpgradeAsync(HttpContext context, string protocol)
    {
        var upgrade = context.Features.Get<IHttpUpgradeFeature>();
        if (upgrade is not { IsUpgradableRequest: true })
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("unable to upgrade: the connection cannot be upgraded\n");
            return null;
        }
        context.Response.Headers["Upgrade"] = SpdyToken;
        context.Response.Headers[ProtocolVersionHeader] = protocol;
        return await upgrade.UpgradeAsync();
    }

    /// <summary>All comma-separated values of a header that may also be repeated.</summary>
    static List<string> HeaderTokens(HttpRequest request, string name) =>
        request.Headers[name].SelectMany(v => (v ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToList();
}
