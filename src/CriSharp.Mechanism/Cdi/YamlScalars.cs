using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace CriSharp.Mechanism.Cdi;

/// <summary>
/// The type of a plain (unquoted) YAML scalar, as sigs.k8s.io/yaml (go-yaml v2, YAML 1.1) resolves it: null,
/// boolean, integer (decimal, 0x hex, 0o or leading-0 octal, 0b binary; '_' separators ignored), float, or string.
/// </summary>
internal static partial class YamlScalars
{
    /// <summary>The scalar as a JSON value; throws <see cref="FormatException"/> for an infinity or NaN (no JSON form).</summary>
    public static JsonNode? Resolve(string text)
    {
        switch (text)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                return null;
            case "true" or "True" or "TRUE":
                return JsonValue.Create(true);
            case "false" or "False" or "FALSE":
                return JsonValue.Create(false);
        }
        if (text.Length == 0 || !(char.IsAsciiDigit(text[0]) || text[0] is '+' or '-' or '.')) return JsonValue.Create(text);

        var plain = text.Replace("_", "");
        if (Integer(plain) is { } integer) return integer;
        if (FloatSyntax().IsMatch(plain))
            return JsonValue.Create(double.Parse(plain, NumberStyles.Float, CultureInfo.InvariantCulture));
        if (SpecialFloat().IsMatch(text))
            throw new FormatException($"{text} has no JSON form");
        return JsonValue.Create(text);
    }

    /// <summary>Go's strconv.ParseInt/ParseUint with base 0: an optional sign, then a base prefix or a leading 0 for octal.</summary>
    static JsonNode? Integer(string plain)
    {
        var negative = plain.StartsWith('-');
        var digits = plain.StartsWith('-') || plain.StartsWith('+') ? plain[1..] : plain;
        var (radix, body) = digits.Length > 1 && digits[0] == '0'
            ? char.ToLowerInvariant(digits[1]) switch
            {
                'x' => (16, digits[2..]),
                'o' => (8, digits[2..]),
                'b' => (2, digits[2..]),
                _ => (8, digits[1..]),
            }
            : (10, digits);
        if (body.Length == 0 || Magnitude(body, radix) is not { } magnitude) return null;
        if (negative)
            return magnitude <= (ulong)long.MaxValue + 1 ? JsonValue.Create(unchecked((long)(0 - magnitude))) : null;
        return magnitude <= long.MaxValue ? JsonValue.Create((long)magnitude) : JsonValue.Create(magnitude);
    }

    static ulong? Magnitude(string body, int radix)
    {
        ulong value = 0;
        foreach (var ch in body)
        {
            var digit = char.IsAsciiDigit(ch) ? ch - '0' : char.IsAsciiLetter(ch) ? char.ToLowerInvariant(ch) - 'a' + 10 : radix;
            if (digit >= radix) return null;
            if (value > (ulong.MaxValue - (ulong)digit) / (ulong)radix) return null;
            value = value * (ulong)radix + (ulong)digit;
        }
        return value;
    }

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex FloatSyntax();

    [GeneratedRegex(@"^([-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$", RegexOptions.CultureInvariant)]
    private static partial Regex SpecialFloat();
}
