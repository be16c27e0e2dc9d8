namespace CriSharp.Architecture.Tests;

/// <summary>The repository's hand-written sources under <c>src/</c> (generated code under obj/ and bin/ is not ours).</summary>
static class SourceTree
{
    public static string Root { get; } = FindRoot();

    public static string Src => Path.Combine(Root, "src");

    public static IEnumerable<string> CSharpFiles() =>
        Directory.EnumerateFiles(Src, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains("/obj/") && !f.Contains("/bin/"))
            .Order(StringComparer.Ordinal);

    public static string Relative(string path) => Path.GetRelativePath(Root, path);

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "CriSharp.sln")))
                return dir.FullName;
        throw new InvalidOperationException($"no CriSharp.sln above {AppContext.BaseDirectory}");
    }
}
