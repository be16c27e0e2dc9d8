using System.Text;

namespace CriSharp.Images.Registry;

/// <summary>One <c>WWW-Authenticate</c> challenge: scheme (Basic, Bearer) and its parameters (realm, service, scope).</summary>
public sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    /// <summary>A parameter by case-insensitive name, or null.</summary>
    public string? this[string name] => Parameters.TryGetValue(name, out var v) ? v : null;

    /// <summary>True for the Bearer (token) scheme.</summary>
    public bool IsBearer => Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase);

    /// <summary>True for the Basic scheme.</summary>
    public bool IsBasic => Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase);

    /// <summary>The challenge we act on from a response: Bearer preferred over Basic; null when there is none.</summary>
    public static AuthChallenge? From(HttpResponseMessage response)
    {
        if (!response.Headers.NonValidated.TryGetValues("WWW-Authenticate", out var values)) return null;
        var all = values.SelectMany(Parse).ToList();
        return all.FirstOrDefault(c => c.IsBearer) ?? all.FirstOrDefault(c => c.IsBasic) ?? all.FirstOrDefault();
    }

    /// <summary>
    /// Parses a header value that may hold several challenges: <c>Scheme k=v, k="quoted, \"escaped\"", Scheme2 ...</c>.
    /// A token not followed by '=' starts a new challenge.
    /// </summary>
    public static IReadOnlyList<AuthChallenge> Parse(string header)
    {
        var result = new List<AuthChallenge>();
        string? scheme = null;
        Dictionary<string, string>? parameters = null;
        int i = 0;
        while (i < header.Length)
        {
            while (i < header.Length && (header[i] == ',' || char.IsWhiteSpace(header[i]))) i++;
            if (i >= header.Length) break;
            int start = i;
            while (i < header.Length && header[i] != '=' && header[i] != ',' && !char.IsWhiteSpace(header[i])) i++;
            var token = header[start..i];
            int afterToken = i;
            while (i < header.Length && char.IsWhiteSpace(header[i])) i++;
            if (i < header.Length && header[i] == '=' && parameters is not null)
            {
                i++;
                while (i < header.Length && char.IsWhiteSpace(header[i])) i++;
                string value;
                if (i < header.Length && header[i] == '"')
                {
                    var sb = new StringBuilder();
                    i++;
                    while (i < header.Length && header[i] != '"')
                    {
                        if (header[i] == '\\' && i + 1 < header.Length) i++;
                        sb.Append(header[i++]);
                    }
                    i++; // closing quote (or end of input)
                    value = sb.ToString();
                }
                else
                {
                    int vs = i;
                    while (i < header.Length && header[i] != ',' && !char.IsWhiteSpace(header[i])) i++;
                    value = header[vs..i];
                }
                parameters[token.ToLowerInvariant()] = value;
            }
            else
            {
                if (scheme is not null) result.Add(new AuthChallenge(scheme, parameters!));
                scheme = token;
                parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                i = afterToken;
                // token68 (e.g. "Negotiate abc==") is not used by registries; skip it.
                while (i < header.Length && char.IsWhiteSpace(header[i])) i++;
            }
        }
        if (scheme is not null) result.Add(new AuthChallenge(scheme, parameters!));
        return result;
    }
}
