namespace CriSharp.Conformance.Framework;

/// <summary>
/// A known-failures file: one case per line, <c>Area/name  # justification</c>. Blank lines and
/// lines starting with '#' are ignored. Case names therefore cannot contain '#'.
/// </summary>
public sealed class KnownFailures
{
    private readonly Dictionary<string, string> _entries;

    private KnownFailures(string? path, Dictionary<string, string> entries)
    {
        Path = path;
        _entries = entries;
    }

    public static KnownFailures None { get; } = new(null, new Dictionary<string, string>(StringComparer.Ordinal));

    public string? Path { get; }

    public IReadOnlyCollection<string> Names => _entries.Keys;

    public static KnownFailures Load(string path)
    {
        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        var lineNo = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var hash = line.IndexOf('#');
            var name = (hash < 0 ? line : line[..hash]).Trim();
            var why = hash < 0 ? string.Empty : line[(hash + 1)..].Trim();
            if (why.Length == 0)
            {
                throw new FormatException($"{path}:{lineNo}: '{name}' has no '# justification'");
            }

            if (!entries.TryAdd(name, why))
            {
                throw new FormatException($"{path}:{lineNo}: '{name}' is listed twice");
            }
        }

        return new KnownFailures(path, entries);
    }

    public bool Contains(string fullName) => _entries.ContainsKey(fullName);
}
