using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace CriSharp.Network;

/// <summary>An interface a plugin reports; <see cref="Sandbox"/> is the netns path for interfaces inside the pod.</summary>
public sealed record CniInterface(string Name, string Mac, string Sandbox);

/// <summary>One address a plugin reports: CIDR notation, optional gateway and the index into the interfaces.</summary>
public sealed record CniIpConfig(string Address, string Gateway, int? Interface)
{
    /// <summary>The address without its prefix length.</summary>
    public IPAddress Ip => IPAddress.Parse(Address.Split('/')[0]);
}

/// <summary>
/// A CNI ADD result of any spec version: 0.3.x, 0.4.0 and 1.x (<c>interfaces</c>, <c>ips</c>) and the
/// older 0.1/0.2 shape (<c>ip4</c>/<c>ip6</c>). <see cref="Raw"/> is passed on unchanged as prevResult.
/// </summary>
public sealed record CniResult(string CniVersion, IReadOnlyList<CniInterface> Interfaces, IReadOnlyList<CniIpConfig> Ips, JsonObject Raw)
{
    /// <summary>Parses a plugin's stdout; throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static CniResult Parse(string json)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new FormatException($"not JSON ({e.Message})");
        }
        return node is JsonObject o ? Parse(o) : throw new FormatException("not a JSON object");
    }

    public static CniResult Parse(JsonObject o)
    {
        var version = o["cniVersion"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : "0.1.0";
        var interfaces = new List<CniInterface>();
        var ips = new List<CniIpConfig>();
        if (o["interfaces"] is JsonArray ifs)
            foreach (var i in ifs)
                interfaces.Add(new CniInterface(Str(i, "name"), Str(i, "mac"), Str(i, "sandbox")));
        if (o["ips"] is JsonArray list)
        {
            foreach (var ip in list)
            {
                if (ip is not JsonObject entry) throw new FormatException("ips[] entries must be objects");
                int? index = entry["interface"] is JsonValue iv && iv.TryGetValue<int>(out var n) ? n : null;
                ips.Add(Ip(Str(entry, "address"), Str(entry, "gateway"), index));
            }
        }
        else
        {
            // Spec 0.1.0/0.2.0: one address per family, no interfaces.
            foreach (var key in new[] { "ip4", "ip6" })
                if (o[key] is JsonObject fam)
                    ips.Add(Ip(Str(fam, "ip"), Str(fam, "gateway"), null));
        }
        return new CniResult(version, interfaces, ips, o);
    }

    static CniIpConfig Ip(string address, string gateway, int? index)
    {
        var slash = address.IndexOf('/');
        if (slash <= 0 || !IPAddress.TryParse(address.AsSpan(0, slash), out _) || !int.TryParse(address.AsSpan(slash + 1), out _))
            throw new FormatException($"'{address}' is not an address in CIDR notation");
        if (gateway.Length > 0 && !IPAddress.TryParse(gateway, out _))
            throw new FormatException($"gateway '{gateway}' is not an IP address");
        return new CniIpConfig(address, gateway, index);
    }

    static string Str(JsonNode? parent, string key) =>
        parent is JsonObject o && o[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : "";

    /// <summary>
    /// The pod's addresses: those on the sandbox interface <paramref name="ifName"/> or naming no interface
    /// (loopback's 127.0.0.1 on "lo" is not one), IPv4 first, without prefix lengths.
    /// </summary>
    public IReadOnlyList<string> PodIps(string ifName)
    {
        var picked = Ips.Where(ip => ip.Interface is not { } i || (i >= 0 && i < Interfaces.Count && Interfaces[i].Name == ifName))
            .Select(ip => ip.Ip)
            .Where(ip => !IPAddress.IsLoopback(ip))
            .ToList();
        return picked.Where(ip => ip.AddressFamily == AddressFamily.InterNetwork)
            .Concat(picked.Where(ip => ip.AddressFamily != AddressFamily.InterNetwork))
            .Select(ip => ip.ToString())
            .Distinct()
            .ToList();
    }
}
