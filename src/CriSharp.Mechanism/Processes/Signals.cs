using CriSharp.Model;

namespace CriSharp.Mechanism.Processes;

/// <summary>Signal names as CRI and image configs write them ("SIGTERM", "TERM", "15").</summary>
public static class Signals
{
    public const int SIGKILL = 9, SIGTERM = 15;

    static readonly Dictionary<string, int> Numbers = new(StringComparer.OrdinalIgnoreCase)
    {
        ["HUP"] = 1, ["INT"] = 2, ["QUIT"] = 3, ["ILL"] = 4, ["TRAP"] = 5, ["ABRT"] = 6, ["BUS"] = 7, ["FPE"] = 8,
        ["KILL"] = 9, ["USR1"] = 10, ["SEGV"] = 11, ["USR2"] = 12, ["PIPE"] = 13, ["ALRM"] = 14, ["TERM"] = 15,
        ["STKFLT"] = 16, ["CHLD"] = 17, ["CONT"] = 18, ["STOP"] = 19, ["TSTP"] = 20, ["TTIN"] = 21, ["TTOU"] = 22,
        ["URG"] = 23, ["XCPU"] = 24, ["XFSZ"] = 25, ["VTALRM"] = 26, ["PROF"] = 27, ["WINCH"] = 28, ["IO"] = 29,
        ["PWR"] = 30, ["SYS"] = 31, ["IOT"] = 6, ["CLD"] = 17, ["POLL"] = 29,
    };

    /// <summary>The signal number; empty means SIGTERM. Unknown names are refused.</summary>
    public static int Parse(string name)
    {
        if (name.Length == 0) return SIGTERM;
        if (int.TryParse(name, out var n) && n is > 0 and < 65) return n;
        var bare = name.StartsWith("SIG", StringComparison.OrdinalIgnoreCase) ? name[3..] : name;
        if (Numbers.TryGetValue(bare, out var num)) return num;
        if (bare.StartsWith("RTMIN", StringComparison.OrdinalIgnoreCase))
        {
            var rest = bare[5..];
            if (rest.Length == 0) return 34;
            if (rest.StartsWith('+') && int.TryParse(rest[1..], out var plus) && plus is >= 0 and <= 30) return 34 + plus;
        }
        if (bare.StartsWith("RTMAX", StringComparison.OrdinalIgnoreCase))
        {
            var rest = bare[5..];
            if (rest.Length == 0) return 64;
            if (rest.StartsWith('-') && int.TryParse(rest[1..], out var minus) && minus is >= 0 and <= 30) return 64 - minus;
        }
        throw new InvalidRequestException("stop_signal", $"unknown signal '{name}'");
    }
}
