namespace CriSharp.Architecture.Tests;

/// <summary>The size rules of DESIGN.md and the README: a reader sees a file and a method whole.</summary>
public class ShapeTests
{
    const int MaxFileLines = 400;
    const int MaxMethodLines = 60;

    [Fact]
    public void No_source_file_is_over_400_lines()
    {
        var over = SourceTree.CSharpFiles()
            .Select(f => (File: SourceTree.Relative(f), Lines: File.ReadAllLines(f).Length))
            .Where(x => x.Lines > MaxFileLines)
            .Select(x => $"{x.File}: {x.Lines} lines")
            .ToList();
        Assert.True(over.Count == 0, "files over " + MaxFileLines + " lines:\n" + string.Join("\n", over));
    }

    [Fact]
    public void No_method_is_over_60_lines()
    {
        var over = SourceTree.CSharpFiles()
            .SelectMany(f => MethodScanner.Scan(File.ReadAllText(f)).Select(m => (File: SourceTree.Relative(f), Method: m)))
            .Where(x => x.Method.Lines > MaxMethodLines)
            .Select(x => $"{x.File}:{x.Method.FirstLine} {x.Method.Name}: {x.Method.Lines} lines")
            .ToList();
        Assert.True(over.Count == 0, "methods over " + MaxMethodLines + " lines:\n" + string.Join("\n", over));
    }

    [Fact]
    public void The_scanner_measures_bodies_and_ignores_braces_in_strings_and_comments()
    {
        const string source = """
            class C
            {
                public async Task<int> RunAsync(string a, int b)
                {
                    var s = "}{ not a brace";
                    // } nor this
                    if (b > 0)
                    {
                        return $"{a}".Length;
                    }
                    return 0;
                }

                int Short() => 1;

                int Arrow(int x) =>
                    x + 1;
            }
            """;
        var spans = MethodScanner.Scan(source);
        Assert.Equal(["RunAsync", "Short", "Arrow"], spans.Select(s => s.Name));
        Assert.Equal(10, spans[0].Lines);
        Assert.Equal(1, spans[1].Lines);
        Assert.Equal(2, spans[2].Lines);
    }
}
