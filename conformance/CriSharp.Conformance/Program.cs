using System.Text.RegularExpressions;
using CriSharp.Conformance.Bench;
using CriSharp.Conformance.Framework;

const string usage = """
    usage: cri-conformance --endpoint unix:///path/to.sock [--test-registry HOST:PORT] [--focus REGEX] [--known-failures FILE] [--timeout-seconds N] [--list]
           cri-conformance bench-pull --help
           cri-conformance bench-lifecycle --help
           cri-conformance bench-stats --help
           cri-conformance bench-exec --help

      --endpoint         CRI endpoint under test (unix socket)
      --test-registry    HOST:PORT of the test registry (hack/test-registry.sh); cases that pull fail without it
      --focus            only run cases whose "Area/name" matches REGEX (case-insensitive)
      --known-failures   file of "Area/name  # justification" lines: failures print XFAIL and are not counted
      --timeout-seconds  per-case timeout (default 30)
      --list             print the case names and exit
    exit code: 0 iff no case failed (XFAIL does not count), 2 on usage errors
    """;

if (args.Length > 0 && args[0] == "bench-pull")
{
    return await PullBench.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == "bench-lifecycle")
{
    return await LifecycleBench.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == "bench-stats")
{
    return await StatsBench.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == "bench-exec")
{
    return await ExecBench.RunAsync(args[1..]);
}

string? endpointArg = null, focusArg = null, knownArg = null, registryArg = null;
var timeoutSeconds = 30;
var list = false;
for (var i = 0; i < args.Length; i++)
{
    string Value()
    {
        if (i + 1 >= args.Length)
        {
            throw new ArgumentException($"{args[i]} needs a value");
        }

        return args[++i];
    }

    try
    {
        switch (args[i])
        {
            case "--endpoint": endpointArg = Value(); break;
            case "--focus": focusArg = Value(); break;
            case "--known-failures": knownArg = Value(); break;
            case "--test-registry":
                registryArg = Value();
                if (!Regex.IsMatch(registryArg, @"^[A-Za-z0-9.\-\[\]:]+:[0-9]+$"))
                {
                    throw new ArgumentException($"--test-registry: '{registryArg}' is not HOST:PORT");
                }

                break;
            case "--timeout-seconds":
                var v = Value();
                if (!int.TryParse(v, out timeoutSeconds) || timeoutSeconds <= 0)
                {
                    throw new ArgumentException($"--timeout-seconds: '{v}' is not a positive integer");
                }

                break;
            case "--list": list = true; break;
            case "-h" or "--help": Console.WriteLine(usage); return 0;
            default: throw new ArgumentException($"unknown argument '{args[i]}'");
        }
    }
    catch (ArgumentException e)
    {
        Console.Error.WriteLine($"cri-conformance: {e.Message}");
        Console.Error.WriteLine(usage);
        return 2;
    }
}

IReadOnlyList<ConformanceCase> cases;
Regex? focus;
KnownFailures known;
Endpoint? endpoint = null;
try
{
    cases = CaseRegistry.Discover(typeof(Program).Assembly);
    focus = focusArg is null ? null : new Regex(focusArg, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
    known = knownArg is null ? KnownFailures.None : KnownFailures.Load(knownArg);
    if (!list)
    {
        endpoint = Endpoint.Parse(endpointArg ?? throw new ArgumentException("--endpoint is required"));
    }
}
catch (Exception e) when (e is ArgumentException or FormatException or IOException or InvalidOperationException)
{
    Console.Error.WriteLine($"cri-conformance: {e.Message}");
    return 2;
}

if (list)
{
    foreach (var c in cases.Where(c => focus is null || focus.IsMatch(c.FullName)))
    {
        Console.WriteLine(c.FullName);
    }

    return 0;
}

foreach (var name in known.Names.Where(n => cases.All(c => c.FullName != n)))
{
    Console.Error.WriteLine($"cri-conformance: warning: known failure '{name}' in {known.Path} matches no case");
}

var runner = new Runner(new RunnerOptions(endpoint!, focus, known, TimeSpan.FromSeconds(timeoutSeconds), registryArg), Console.Out);
var failed = await runner.RunAsync(cases);
return failed == 0 ? 0 : 1;
