namespace CriSharp.Configuration;

/// <summary>A config problem, naming the file (or flag) and the key at fault.</summary>
public sealed class ConfigException(string source, string key, string problem)
    : Exception(key.Length == 0 ? $"{source}: {problem}" : $"{source}: key '{key}': {problem}")
{
    public string Origin { get; } = source;
    public string Key { get; } = key;
    public string Problem { get; } = problem;
}
