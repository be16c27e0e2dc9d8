using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace CriSharp.Conformance.Bench;

/// <summary>
/// The options every bench takes (<c>--endpoint</c>, <c>--image</c>, <c>--timeout-seconds</c>, <c>-h</c>/<c>--help</c>)
/// and the one parse loop for them; a bench adds its own options by overriding <see cref="ParseOption"/> and
/// its checks by overriding <see cref="Validate"/>.
/// </summary>
internal abstract class BenchOptions(int defaultTimeoutSeconds)
{
    public string Endpoint { get; private set; } = "";

    public string Image { get; private set; } = "";

    public int TimeoutSeconds { get; private set; } = defaultTimeoutSeconds;

    /// <summary>The options that must be given, as the error names them when one is missing.</summary>
    protected virtual string RequiredOptions => "--endpoint and --image";

    protected virtual bool RequiredGiven => Endpoint.Length > 0 && Image.Length > 0;

    /// <summary>
    /// Parses <paramref name="args"/> (the arguments after <c>cri-conformance COMMAND</c>). False when there is
    /// nothing to run, with the exit code to return: 0 once the usage is printed for <c>--help</c>, 2 once the
    /// error and the usage are printed for bad arguments.
    /// </summary>
    public static bool TryParse<T>(string[] args, string command, string usage, [NotNullWhen(true)] out T? options, out int exitCode)
        where T : BenchOptions, new()
    {
        options = null;
        exitCode = 0;
        var o = new T();
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--endpoint": o.Endpoint = Value(); break;
                    case "--image": o.Image = Value(); break;
                    case "--timeout-seconds": o.TimeoutSeconds = PositiveInt(Value(), "--timeout-seconds"); break;
                    case "-h" or "--help": Console.WriteLine(usage); return false;
                    default:
                        if (!o.ParseOption(args[i], Value))
                        {
                            throw new ArgumentException($"unknown argument '{args[i]}'");
                        }

                        break;
                }
            }

            o.Validate();
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"cri-conformance {command}: {e.Message}");
            Console.Error.WriteLine(usage);
            exitCode = 2;
            return false;
        }

        options = o;
        return true;
    }

    protected static int PositiveInt(string v, string what) =>
        int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new ArgumentException($"{what}: '{v}' is not a positive integer");

    /// <summary>Takes the bench's own option <paramref name="name"/> (its value, if any, from <paramref name="value"/>); false if unknown.</summary>
    protected virtual bool ParseOption(string name, Func<string> value) => false;

    /// <summary>Checks the parsed options as a whole; throws <see cref="ArgumentException"/> if they do not fit.</summary>
    protected virtual void Validate()
    {
        if (!RequiredGiven)
        {
            throw new ArgumentException($"{RequiredOptions} are required");
        }
    }
}

/// <summary>
/// The options of the benches that run pods (<see cref="PodBench"/>): besides the common ones, <c>--pull</c>,
/// <c>--log-dir</c> (required, absolute) and <c>--ids-file</c>; per-RPC timeout 120 s unless given.
/// </summary>
internal abstract class PodBenchOptions() : BenchOptions(defaultTimeoutSeconds: 120)
{
    public List<string> Pulls { get; } = [];

    public string LogDir { get; private set; } = "";

    public string? IdsFile { get; private set; }

    protected override string RequiredOptions => "--endpoint, --image and --log-dir";

    protected override bool RequiredGiven => base.RequiredGiven && LogDir.Length > 0;

    protected override bool ParseOption(string name, Func<string> value)
    {
        switch (name)
        {
            case "--pull": Pulls.Add(value()); return true;
            case "--log-dir": LogDir = value(); return true;
            case "--ids-file": IdsFile = value(); return true;
            default: return base.ParseOption(name, value);
        }
    }

    protected override void Validate()
    {
        base.Validate();
        if (!Path.IsPathRooted(LogDir))
        {
            throw new ArgumentException($"--log-dir: '{LogDir}' is not an absolute path");
        }
    }
}
