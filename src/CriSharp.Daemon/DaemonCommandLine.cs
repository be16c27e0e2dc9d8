using System.CommandLine;
using System.Reflection;
using CriSharp.Configuration;
using CriSharp.Cri;

namespace CriSharp.Daemon;

/// <summary>The `crisharp` command line: serve (default), `config [--default]`, `quarantine`, `version`.</summary>
public static class DaemonCommandLine
{
    /// <summary>Flags that override a config key, named after the key.</summary>
    static readonly (string Flag, string Key, string Help)[] OverrideFlags =
    [
        ("--root", "root", "Persistent data directory."),
        ("--state-dir", "state_dir", "Runtime state directory."),
        ("--listen", "listen", "Unix socket for the CRI gRPC server."),
        ("--log-level", "log_level", "trace, debug, info, warn or error."),
        ("--log-format", "log_format", "text or json."),
        ("--cgroup-driver", "cgroup_driver", "cgroupfs or systemd."),
        ("--default-runtime", "default_runtime", "Default runtime handler."),
        ("--monitor-path", "monitor_path", "The conmon binary."),
        ("--cni-conf-dir", "network.conf_dir", "CNI configuration directory."),
        ("--cni-plugin-dirs", "network.plugin_dirs", "CNI plugin directories, comma-separated."),
        ("--stream-address", "stream.address", "Streaming server address."),
        ("--stream-port", "stream.port", "Streaming server port."),
    ];

    public static RootCommand Build()
    {
        var configFile = new Option<string>("--config") { Description = "Main config file.", DefaultValueFactory = _ => ConfigSources.DefaultFile, Recursive = true };
        var configDir = new Option<string>("--config-dir") { Description = "Drop-in directory (*.toml, lexical order).", DefaultValueFactory = _ => ConfigSources.DefaultDropInDir, Recursive = true };
        var overrides = OverrideFlags.Select(f => (f.Key, Option: new Option<string?>(f.Flag) { Description = f.Help, Recursive = true })).ToList();

        var root = new RootCommand("crisharp: a Kubernetes CRI runtime. With no command, serves CRI on the configured socket.");
        root.Options.Add(configFile);
        root.Options.Add(configDir);
        foreach (var (_, o) in overrides) root.Options.Add(o);

        ConfigSources Sources(ParseResult r) => new(
            r.GetValue(configFile)!,
            r.GetValue(configDir)!,
            overrides.Select(o => (o.Key, Value: r.GetValue(o.Option)))
                .Where(o => o.Value != null)
                .Select(o => KeyValuePair.Create(o.Key, o.Value!))
                .ToList(),
            // An explicitly named file must exist; the default one is optional.
            FileMustExist: r.GetResult(configFile) is { Implicit: false });

        root.SetAction((r, ct) => DaemonHost.RunAsync(Sources(r), ct));
        root.Subcommands.Add(ConfigCommand(Sources));
        root.Subcommands.Add(QuarantineCommand(Sources));
        root.Subcommands.Add(VersionCommand());
        return root;
    }

    /// <summary>`config [--default]`: the effective configuration, or every key with its default, as TOML.</summary>
    static Command ConfigCommand(Func<ParseResult, ConfigSources> sources)
    {
        var showDefault = new Option<bool>("--default") { Description = "Print every key with its default value and a comment." };
        var config = new Command("config", "Print the effective configuration as TOML.") { showDefault };
        config.SetAction(r =>
        {
            if (r.GetValue(showDefault))
            {
                Console.Out.Write(ConfigRenderer.Render(new DaemonConfig(), withComments: true));
                return 0;
            }
            if (DaemonHost.LoadOrReport(sources(r)) is not { } effective)
                return 2;
            Console.Out.Write(ConfigRenderer.Render(effective, withComments: false));
            return 0;
        });
        return config;
    }

    /// <summary>`quarantine`: the records recovery moved aside, one a line.</summary>
    static Command QuarantineCommand(Func<ParseResult, ConfigSources> sources)
    {
        var quarantine = new Command("quarantine",
            "List the records recovery could not read and moved aside (<root>/quarantine): what they own is left alone until an operator acts.");
        quarantine.SetAction(r =>
        {
            if (DaemonHost.LoadOrReport(sources(r)) is not { } effective)
                return 2;
            var q = State.Quarantine.Under(effective.Root);
            var entries = q.List();
            if (entries.Count == 0)
            {
                Console.Out.WriteLine($"no records in quarantine ({q.Dir})");
                return 0;
            }
            Console.Out.WriteLine("KIND\tID\tQUARANTINED\tREASON\tFILE\tFROM");
            foreach (var e in entries)
                Console.Out.WriteLine($"{e.Kind}\t{e.Id}\t{e.At.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}\t{e.Reason}\t{e.File}\t{e.From}");
            return 0;
        });
        return quarantine;
    }

    static Command VersionCommand()
    {
        var version = new Command("version", "Print the version.");
        version.SetAction(_ =>
        {
            Console.Out.WriteLine($"crisharp {VersionInfo.RuntimeVersion}");
            Console.Out.WriteLine($"CRI API {VersionInfo.CriApiVersion}");
            return 0;
        });
        return version;
    }
}
