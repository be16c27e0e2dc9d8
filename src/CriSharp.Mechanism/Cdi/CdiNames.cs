namespace CriSharp.Mechanism.Cdi;

/// <summary>A parsed "vendor/class=name" device reference.</summary>
public readonly record struct CdiQualifiedName(string Vendor, string Class, string Name)
{
    /// <summary>"vendor/class", the spec kind that defines the device.</summary>
    public string Kind => $"{Vendor}/{Class}";

    public override string ToString() => $"{Vendor}/{Class}={Name}";
}

/// <summary>The syntax of CDI kinds, device names and qualified device names. Every method returns null when valid, else why not.</summary>
public static class CdiNames
{
    /// <summary>
    /// Splits a qualified device name as the reference parser does ("vendor/class=name"; vendor and class start with a
    /// letter, end with a letter or digit, with letters, digits, '_', '-' and '.' between; the name as <see cref="CheckDeviceName"/>).
    /// </summary>
    public static CdiQualifiedName? TryParseQualified(string device, out string? error)
    {
        var equals = device.IndexOf('=');
        var slash = equals > 0 ? device.AsSpan(0, equals).IndexOf('/') : -1;
        if (device.Length == 0 || device[0] == '/' || equals <= 0 || equals == device.Length - 1 || slash <= 0 || slash == equals - 1)
        {
            error = $"\"{device}\" is not a qualified CDI device name (want vendor.com/class=name)";
            return null;
        }
        var (vendor, @class, name) = (device[..slash], device[(slash + 1)..equals], device[(equals + 1)..]);
        error = CheckRequestedPart(vendor, "vendor") ?? CheckRequestedPart(@class, "class") ?? CheckDeviceName(name);
        if (error is null) return new CdiQualifiedName(vendor, @class, name);
        error = $"invalid CDI device \"{device}\": {error}";
        return null;
    }

    /// <summary>A spec's kind: a DNS-subdomain vendor (at most 253 characters), '/', and a class of at most 63 characters.</summary>
    public static string? CheckKind(string kind)
    {
        var slash = kind.IndexOf('/');
        if (slash < 0) return $"kind \"{kind}\" is not vendor/class";
        var (vendor, @class) = (kind[..slash], kind[(slash + 1)..]);
        if (CheckVendor(vendor) is { } vendorError) return $"kind \"{kind}\": {vendorError}";
        if (@class.Length is 0 or > 63) return $"kind \"{kind}\": the class must have 1 to 63 characters";
        return CheckInner(@class, "class", ch => ch is '_' or '-' or '.') is { } classError ? $"kind \"{kind}\": {classError}" : null;
    }

    /// <summary>A device name: starts and ends with a letter or digit, with letters, digits, '_', '-', '.' and ':' between.</summary>
    public static string? CheckDeviceName(string name) =>
        name.Length == 0 ? "empty device name" : CheckInner(name, "device name", ch => ch is '_' or '-' or '.' or ':');

    static string? CheckVendor(string vendor)
    {
        if (vendor.Length is 0 or > 253) return "the vendor must have 1 to 253 characters";
        foreach (var label in vendor.Split('.'))
        {
            if (label.Length is 0 or > 63) return $"vendor \"{vendor}\" has a DNS label that is empty or longer than 63 characters";
            if (CheckInner(label, "vendor label", ch => ch == '-') is { } error) return $"vendor \"{vendor}\": {error}";
        }
        return null;
    }

    static string? CheckRequestedPart(string part, string what)
    {
        if (!char.IsAsciiLetter(part[0])) return $"{what} \"{part}\" should start with a letter";
        return CheckInner(part, what, ch => ch is '_' or '-' or '.');
    }

    /// <summary>First and last character alphanumeric, the others alphanumeric or allowed.</summary>
    static string? CheckInner(string value, string what, Func<char, bool> allowedInside)
    {
        if (!char.IsAsciiLetterOrDigit(value[0]) || !char.IsAsciiLetterOrDigit(value[^1]))
            return $"{what} \"{value}\" should start and end with a letter or digit";
        foreach (var ch in value.AsSpan(1, Math.Max(0, value.Length - 2)))
            if (!char.IsAsciiLetterOrDigit(ch) && !allowedInside(ch))
                return $"invalid character '{ch}' in {what} \"{value}\"";
        return null;
    }
}
