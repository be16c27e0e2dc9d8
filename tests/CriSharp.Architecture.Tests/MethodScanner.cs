using System.Text;
using System.Text.RegularExpressions;

namespace CriSharp.Architecture.Tests;

/// <summary>A method, constructor, accessor block or operator found in a source file, by its first and last line.</summary>
sealed record MethodSpan(string Name, int FirstLine, int LastLine)
{
    public int Lines => LastLine - FirstLine + 1;
}

/// <summary>
/// Finds the bodies of a file's members without a compiler: strings, characters and comments are blanked first, so
/// only real braces count; a member starts at a line that declares something with a parameter list and a body.
/// Local functions and lambdas count as part of the member that holds them.
/// </summary>
static partial class MethodScanner
{
    static readonly HashSet<string> Statements =
        ["if", "for", "foreach", "while", "switch", "using", "lock", "catch", "return", "await", "throw", "else", "do",
         "fixed", "checked", "unchecked", "new", "yield", "when", "case", "nameof", "typeof", "sizeof", "default"];

    [GeneratedRegex(@"\b(?:class|struct|interface|record|enum|delegate)\s+\w+")]
    private static partial Regex TypeDeclaration();

    [GeneratedRegex(@"^(?:\[[^\]]*\]\s*)*(?:(?:public|private|internal|protected|static|async|override|virtual|sealed|abstract|partial|unsafe|extern|new|readonly|required|implicit|explicit)\s+)*(?:[\w.<>\[\]?,() ]+?\s+)?(?<name>~?\w+|operator\s*\S+)\s*(?:<[^()]*>)?\s*\(")]
    private static partial Regex Declaration();

    public static IReadOnlyList<MethodSpan> Scan(string text)
    {
        var lines = Blank(text).Split('\n');
        var spans = new List<MethodSpan>();
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            var m = Declaration().Match(line);
            if (!m.Success || TypeDeclaration().IsMatch(line) || Statements.Contains(FirstWord(line)) || line.Contains(" = ") && line.IndexOf(" = ", StringComparison.Ordinal) < line.IndexOf('('))
                continue;
            var end = BodyEnd(lines, i);
            if (end < 0)
                continue;
            spans.Add(new MethodSpan(m.Groups["name"].Value, i + 1, end + 1));
            i = end;
        }
        return spans;
    }

    static string FirstWord(string line)
    {
        var n = 0;
        while (n < line.Length && (char.IsLetterOrDigit(line[n]) || line[n] == '_'))
            n++;
        return line[..n];
    }

    /// <summary>The line of the body's last brace or, for an expression body, of its closing semicolon; -1 for none (an abstract or interface member, a call).</summary>
    static int BodyEnd(string[] lines, int start)
    {
        int depth = 0, parens = 0;
        var opened = false;
        var arrow = false;
        for (var i = start; i < lines.Length; i++)
        {
            var l = lines[i];
            for (var c = 0; c < l.Length; c++)
            {
                var ch = l[c];
                if (ch == '(') parens++;
                else if (ch == ')') parens--;
                else if (ch == '=' && c + 1 < l.Length && l[c + 1] == '>' && parens == 0 && depth == 0 && !opened) arrow = true;
                else if (ch == '{') { depth++; opened = true; }
                else if (ch == '}')
                {
                    depth--;
                    if (opened && depth == 0 && !arrow)
                        return i;
                    if (depth < 0)
                        return -1;
                }
                else if (ch == ';' && depth == 0 && parens == 0)
                    return arrow ? i : -1;
            }
        }
        return -1;
    }

    /// <summary>The text with comments, string and character literals replaced by spaces (line breaks kept).</summary>
    public static string Blank(string s)
    {
        var o = new StringBuilder(s.Length);
        var i = 0;
        while (i < s.Length)
        {
            if (At(s, i, "//")) { while (i < s.Length && s[i] != '\n') { o.Append(' '); i++; } }
            else if (At(s, i, "/*")) { var e = s.IndexOf("*/", i + 2, StringComparison.Ordinal); e = e < 0 ? s.Length : e + 2; Pad(o, s, i, e); i = e; }
            else if (StringStart(s, i, out var quotes, out var verbatim, out var prefix))
            {
                var e = StringEnd(s, i + prefix, quotes, verbatim);
                Pad(o, s, i, e);
                i = e;
            }
            else if (s[i] == '\'' && (i == 0 || !char.IsLetterOrDigit(s[i - 1])))
            {
                var e = i + 1;
                while (e < s.Length && s[e] != '\'' && s[e] != '\n') e += s[e] == '\\' ? 2 : 1;
                e = Math.Min(e + 1, s.Length);
                Pad(o, s, i, e);
                i = e;
            }
            else { o.Append(s[i]); i++; }
        }
        return o.ToString();
    }

    static bool At(string s, int i, string what) => string.CompareOrdinal(s, i, what, 0, what.Length) == 0;

    static bool StringStart(string s, int i, out int quotes, out bool verbatim, out int prefix)
    {
        quotes = 0; verbatim = false; prefix = 0;
        var j = i;
        while (j < s.Length && (s[j] == '$' || s[j] == '@')) { verbatim |= s[j] == '@'; j++; }
        if (j >= s.Length || s[j] != '"' || (j > i && i > 0 && char.IsLetterOrDigit(s[i - 1])))
            return false;
        prefix = j - i;
        var q = j;
        while (q < s.Length && s[q] == '"') q++;
        quotes = q - j >= 3 ? q - j : 1;
        return true;
    }

    static int StringEnd(string s, int open, int quotes, bool verbatim)
    {
        var i = open + quotes;
        if (quotes >= 3)
        {
            var close = new string('"', quotes);
            var e = s.IndexOf(close, i, StringComparison.Ordinal);
            return e < 0 ? s.Length : e + quotes;
        }
        while (i < s.Length)
        {
            if (!verbatim && s[i] == '\\') { i += 2; continue; }
            if (s[i] == '"')
            {
                if (verbatim && i + 1 < s.Length && s[i + 1] == '"') { i += 2; continue; }
                return i + 1;
            }
            if (!verbatim && s[i] == '\n') return i;
            i++;
        }
        return s.Length;
    }

    static void Pad(StringBuilder o, string s, int from, int to)
    {
        for (var k = from; k < to; k++)
            o.Append(s[k] == '\n' ? '\n' : ' ');
    }
}
