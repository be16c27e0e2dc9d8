using System.Security.Cryptography;

namespace CriSharp.Images.Content;

/// <summary>A content digest, "sha256:&lt;64 lowercase hex&gt;" (the only algorithm we accept).</summary>
public readonly record struct Digest(string Hex)
{
    public const string Algorithm = "sha256";

    public override string ToString() => $"{Algorithm}:{Hex}";

    /// <summary>Parses "sha256:hex"; anything else (other algorithms, bad hex, path tricks) is refused.</summary>
    public static bool TryParse(string? s, out Digest digest)
    {
        digest = default;
        if (s == null || !s.StartsWith("sha256:", StringComparison.Ordinal) || s.Length != 7 + 64) return false;
        foreach (var c in s.AsSpan(7))
            if (!char.IsAsciiDigit(c) && c is < 'a' or > 'f') return false;
        digest = new Digest(s[7..]);
        return true;
    }

    public static Digest Parse(string s) =>
        TryParse(s, out var d) ? d : throw new FormatException($"'{s}' is not a sha256 digest");

    public static Digest Of(ReadOnlySpan<byte> data) => new(Convert.ToHexStringLower(SHA256.HashData(data)));
}

/// <summary>An OCI content descriptor: what a manifest says about a blob.</summary>
public sealed record Descriptor(string MediaType, Digest Digest, long Size)
{
    public IReadOnlyList<string> Urls { get; init; } = [];
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();
}
