using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace CriSharp.Architecture.Tests;

/// <summary>
/// The layering of README's layout section, checked on the sources: projects only reference projects below them,
/// and inside the engine's layers a folder only uses folders below it. `dotnet test tests/CriSharp.Architecture.Tests`
/// runs it (make test does too).
/// </summary>
public partial class LayerTests
{
    /// <summary>Every project under src/, by layer: a project may reference only projects of a lower rank.</summary>
    static readonly Dictionary<string, int> ProjectRanks = new()
    {
        ["CriSharp.Api"] = 0, ["CriSharp.Linux"] = 0, ["CriSharp.Configuration"] = 0, ["CriSharp.Model"] = 0,
        ["CriSharp.State"] = 1, ["CriSharp.Streaming"] = 1,
        ["CriSharp.Mechanism"] = 2, ["CriSharp.Images"] = 2,
        ["CriSharp.Network"] = 3,
        ["CriSharp.Runtime"] = 4,
        ["CriSharp.Cri"] = 5,
        ["CriSharp.Daemon"] = 6,
    };

    /// <summary>The folders of the engine's projects, bottom first: a folder may use its own and those before it.</summary>
    static readonly Dictionary<string, string[]> FolderOrder = new()
    {
        ["CriSharp.Model"] = [""],
        ["CriSharp.Mechanism"] = ["", "Processes", "Namespaces", "Cgroups", "Oci", "Cdi", "Monitor"],
        ["CriSharp.Runtime"] = ["", "Spec", "Pods", "Containers", "Events", "Exec", "Stats"],
    };

    static Dictionary<string, string[]> ProjectReferences() =>
        Directory.EnumerateDirectories(SourceTree.Src)
            .Select(d => Path.Combine(d, Path.GetFileName(d) + ".csproj"))
            .Where(File.Exists)
            .ToDictionary(
                p => Path.GetFileNameWithoutExtension(p),
                p => XDocument.Load(p).Descendants("ProjectReference")
                    .Select(r => Path.GetFileNameWithoutExtension(r.Attribute("Include")!.Value)).ToArray());

    [Fact]
    public void Every_project_has_a_layer_and_references_only_layers_below_it()
    {
        var refs = ProjectReferences();
        Assert.True(refs.Count >= ProjectRanks.Count, "found only " + string.Join(", ", refs.Keys));
        var unranked = refs.Keys.Where(p => !ProjectRanks.ContainsKey(p)).ToList();
        Assert.True(unranked.Count == 0, "projects without a layer in LayerTests.ProjectRanks: " + string.Join(", ", unranked));
        var upward = refs.SelectMany(p => p.Value.Where(r => !ProjectRanks.TryGetValue(r, out var rank) || rank >= ProjectRanks[p.Key])
            .Select(r => $"{p.Key} (layer {ProjectRanks[p.Key]}) -> {r} (layer {ProjectRanks.GetValueOrDefault(r, -1)})")).ToList();
        Assert.True(upward.Count == 0, "references that do not go down:\n" + string.Join("\n", upward));
    }

    [Fact]
    public void Network_reaches_neither_the_lifecycle_nor_the_facade()
    {
        var refs = ProjectReferences();
        var reached = new HashSet<string>();
        var todo = new Stack<string>(["CriSharp.Network"]);
        while (todo.TryPop(out var p))
            foreach (var r in refs.GetValueOrDefault(p, []))
                if (reached.Add(r)) todo.Push(r);
        Assert.DoesNotContain("CriSharp.Runtime", reached);
        Assert.DoesNotContain("CriSharp.Cri", reached);
        Assert.Contains("CriSharp.Mechanism", reached);
    }

    [GeneratedRegex(@"^namespace ([\w.]+);", RegexOptions.Multiline)]
    private static partial Regex NamespaceLine();

    [Fact]
    public void Engine_files_live_in_the_namespace_of_their_folder()
    {
        var wrong = new List<string>();
        foreach (var (project, _) in FolderOrder)
            foreach (var file in SourceTree.CSharpFiles().Where(f => SourceTree.Relative(f).StartsWith($"src/{project}/", StringComparison.Ordinal)))
            {
                var folder = Folder(project, file);
                var expected = folder.Length == 0 ? project : $"{project}.{folder.Replace('/', '.')}";
                var ns = NamespaceLine().Match(File.ReadAllText(file)).Groups[1].Value;
                if (ns != expected) wrong.Add($"{SourceTree.Relative(file)}: namespace {ns}, folder says {expected}");
            }
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    [Fact]
    public void No_engine_folder_uses_a_folder_above_it()
    {
        var upward = new List<string>();
        foreach (var (project, order) in FolderOrder)
        {
            var use = new Regex($@"\b{Regex.Escape(project)}\.(\w+)\b");
            foreach (var file in SourceTree.CSharpFiles().Where(f => SourceTree.Relative(f).StartsWith($"src/{project}/", StringComparison.Ordinal)))
            {
                var top = Folder(project, file).Split('/')[0];
                var rank = Array.IndexOf(order, top);
                if (rank < 0) { upward.Add($"{SourceTree.Relative(file)}: folder {top} has no place in LayerTests.FolderOrder"); continue; }
                var code = MethodScanner.Blank(File.ReadAllText(file));
                foreach (var used in use.Matches(code).Select(m => m.Groups[1].Value).Distinct())
                {
                    var usedRank = Array.IndexOf(order, used);
                    if (usedRank > rank || usedRank < 0 && !IsType(used))
                        upward.Add($"{SourceTree.Relative(file)} ({(top.Length == 0 ? "root" : top)}) uses {project}.{used}");
                }
            }
        }
        Assert.True(upward.Count == 0, "uses of a folder above:\n" + string.Join("\n", upward));
    }

    /// <summary>No status code is chosen outside the one mapping: façade files throw the engine's vocabulary.</summary>
    [Fact]
    public void Only_the_error_mapping_makes_grpc_statuses()
    {
        var makers = SourceTree.CSharpFiles()
            .Where(f => SourceTree.Relative(f).StartsWith("src/CriSharp.", StringComparison.Ordinal) && !f.EndsWith("/ErrorMapping.cs", StringComparison.Ordinal))
            .Where(f => MethodScanner.Blank(File.ReadAllText(f)) is var code
                && (code.Contains("RpcException(", StringComparison.Ordinal) || code.Contains("new Status(", StringComparison.Ordinal)))
            .Select(SourceTree.Relative).ToList();
        Assert.True(makers.Count == 0, "files that make a gRPC status themselves:\n" + string.Join("\n", makers));
    }

    /// <summary>A name after the project's namespace that is a type (CriSharp.Model.PodSandbox), not a folder.</summary>
    static bool IsType(string name) => char.IsUpper(name[0]) && Directory.GetDirectories(SourceTree.Src, name, SearchOption.AllDirectories).Length == 0;

    static string Folder(string project, string file)
    {
        var dir = Path.GetDirectoryName(Path.GetRelativePath(Path.Combine(SourceTree.Src, project), file))!;
        return dir.Replace('\\', '/');
    }
}
