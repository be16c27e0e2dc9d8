using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Text.RegularExpressions;
using CriSharp.Images.Content;

namespace CriSharp.Images.References;

/// <summary>
/// A normalised image reference (docker/distribution grammar): registry host, repository path and a
/// tag and/or digest. <c>busybox</c> becomes <c>docker.io/library/busybox:latest</c>.
/// </summary>
public sealed partial record ImageReference(string Registry, string Repository, string? Tag, Digest? Digest)
{
    /// <summary>The name Docker Hub images are recorded under.</summary>
    public const string DockerHub = "docker.io";
    /// <summary>The host Docker Hub's distribution API actually answers on.</summary>
    public const string DockerHubApiHost = "registry-1.docker.io";
    /// <summary>The tag assumed when a reference has neither tag nor digest.</summary>
    public const string DefaultTag = "latest";

    private const int MaxNameLength = 255;

    /// <summary>"registry/repository", without tag or digest.</summary>
    public string Name => $"{Registry}/{Repository}";

    /// <summary>What goes after <c>/manifests/</c>: the digest when there is one (it wins over the tag), else the tag.</summary>
    public string ManifestReference => Digest?.ToString() ?? Tag ?? DefaultTag;

    /// <summary>The host requests go to: <c>registry-1.docker.io</c> for Docker Hub, else the registry itself.</summary>
    public string ApiHost => Registry == DockerHub ? DockerHubApiHost : Registry;

    /// <summary>Canonical form: <c>registry/repo:tag</c>, <c>registry/repo@sha256:…</c> or both.</summary>
    public override string ToString() =>
        Name + (Tag is null ? "" : ":" + Tag) + (Digest is { } d ? "@" + d : "");

    /// <summary>Parses and normalises; unqualified names resolve against <paramref name="defaultRegistry"/>.</summary>
    /// <exception cref="InvalidImageReferenceException">The reference does not follow the grammar.</exception>
    public static ImageReference Parse(string reference, string defaultRegistry = DockerHub)
    {
        var error = TryParseCore(reference, defaultRegistry, out var result);
        return error is null ? result! : throw new InvalidImageReferenceException(reference, error);
    }

    /// <summary>Like <see cref="Parse"/> but returns false instead of throwing.</summary>
    public static bool TryParse(string? reference, string defaultRegistry, [NotNullWhen(true)] out ImageReference? result) =>
        TryParseCore(reference, defaultRegistry, out result) is null;

    /// <summary>Returns null on success, else what is wrong with the reference.</summary>
    private static string? TryParseCore(string? s, string defaultRegistry, out ImageReference? result)
    {
        result = null;
        if (string.IsNullOrEmpty(s)) return "it is empty";
        foreach (var c in s)
            if (char.IsWhiteSpace(c) || char.IsControl(c)) return "it contains whitespace or control characters";

        if (SplitDigest(s, out var name, out var digest) is { } badDigest) return badDigest;
        if (SplitTag(ref name, out var tag) is { } badTag) return badTag;
        if (SplitRegistry(name, defaultRegistry, out var registry, out var path) is { } badHost) return badHost;
        if (CheckPath(path) is { } badPath) return badPath;
        if (registry == DockerHub && !path.Contains('/')) path = "library/" + path;
        if (registry.Length + 1 + path.Length > MaxNameLength)
            return $"the name is longer than {MaxNameLength} characters";

        if (tag is null && digest is null) tag = DefaultTag;
        result = new ImageReference(registry, path, tag, digest);
        return null;
    }

    /// <summary>Splits "name@sha256:…" into the name and the digest (null without '@').</summary>
    private static string? SplitDigest(string s, out string name, out Digest? digest)
    {
        digest = null;
        name = s;
        var at = s.IndexOf('@');
        if (at < 0) return null;
        var d = s[(at + 1)..];
        name = s[..at];
        if (d.Length == 0) return "the digest after '@' is empty";
        var colon = d.IndexOf(':');
        if (colon > 0 && d[..colon] != Content.Digest.Algorithm)
            return $"digest algorithm '{d[..colon]}' is not supported (only sha256)";
        if (!Content.Digest.TryParse(d, out var parsed))
            return $"digest '{d}' is not sha256: followed by 64 lowercase hex characters";
        digest = parsed;
        return null;
    }

    /// <summary>Takes a ":tag" off the end of <paramref name="name"/> (a colon after the last '/'; before it, it is a port).</summary>
    private static string? SplitTag(ref string name, out string? tag)
    {
        tag = null;
        var lastSlash = name.LastIndexOf('/');
        var tagColon = name.LastIndexOf(':');
        if (tagColon > lastSlash)
        {
            tag = name[(tagColon + 1)..];
            name = name[..tagColon];
            if (!TagPattern().IsMatch(tag))
                return tag.Length == 0 ? "the tag after ':' is empty" : $"tag '{tag}' is invalid (want [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})";
        }
        return name.Length == 0 ? "the repository name is empty" : null;
    }

    /// <summary>
    /// Splits the registry host off the repository path: the first component is a host if it has a '.' or ':'
    /// or is "localhost"; else the name resolves against <paramref name="defaultRegistry"/>.
    /// </summary>
    private static string? SplitRegistry(string name, string defaultRegistry, out string registry, out string path)
    {
        var firstSlash = name.IndexOf('/');
        var first = firstSlash < 0 ? "" : name[..firstSlash];
        if (firstSlash >= 0 && (first.Contains('.') || first.Contains(':') || first == "localhost"))
        {
            registry = first.ToLowerInvariant();
            path = name[(firstSlash + 1)..];
            if (!IsValidHost(first)) return $"registry host '{first}' is invalid";
        }
        else
        {
            registry = defaultRegistry;
            path = name;
        }
        if (registry == "index.docker.io") registry = DockerHub;
        return null;
    }

    /// <summary>Checks each component of the repository path; a bare 64-hex name is an image id, not a repository.</summary>
    private static string? CheckPath(string path)
    {
        foreach (var component in path.Split('/'))
        {
            if (component.Length == 0) return "the repository path has an empty component";
            if (!ComponentPattern().IsMatch(component))
            {
                if (component.Any(char.IsAsciiLetterUpper)) return $"repository component '{component}' must be lowercase";
                return $"repository component '{component}' is invalid (want [a-z0-9] runs separated by '.', '_', '__' or '-')";
            }
        }
        if (!path.Contains('/') && HexIdPattern().IsMatch(path))
            return "a 64-character hex string is an image ID, not a repository name";
        return null;
    }

    private static bool IsValidHost(string host)
    {
        var m = HostPattern().Match(host);
        if (!m.Success) return false;
        if (m.Groups["ipv6"].Success && !IPAddress.TryParse(m.Groups["ipv6"].Value, out _)) return false;
        return !m.Groups["port"].Success || int.TryParse(m.Groups["port"].Value, out var port) && port is > 0 and <= 65535;
    }

    [GeneratedRegex("^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")]
    private static partial Regex ComponentPattern();

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagPattern();

    [GeneratedRegex("^[a-f0-9]{64}$")]
    private static partial Regex HexIdPattern();

    [GeneratedRegex(@"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[(?<ipv6>[0-9A-Fa-f:.]+)\])(?::(?<port>[0-9]{1,5}))?$")]
    private static partial Regex HostPattern();
}

/// <summary>An image reference that does not follow the reference grammar; the message says what is wrong.</summary>
public sealed class InvalidImageReferenceException(string reference, string problem)
    : FormatException($"invalid image reference '{reference}': {problem}")
{
    /// <summary>The reference as given.</summary>
    public string Reference { get; } = reference;
    /// <summary>What is wrong with it.</summary>
    public string Problem { get; } = problem;
}
