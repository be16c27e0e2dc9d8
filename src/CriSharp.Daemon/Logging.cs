using CriSharp.Configuration;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace CriSharp.Daemon;

/// <summary>Builds the Serilog logger (stderr, text or JSON) with a level switch that SIGHUP can move.</summary>
public static class Logging
{
    public static Logger Create(DaemonConfig config, LoggingLevelSwitch level)
    {
        level.MinimumLevel = ParseLevel(config.LogLevel);
        var lc = new LoggerConfiguration()
            .MinimumLevel.ControlledBy(level)
            // ASP.NET's own per-request chatter would drown the one-line-per-CRI-call log.
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .MinimumLevel.Override("Grpc", LogEventLevel.Warning)
            .Enrich.FromLogContext();
        lc = config.LogFormat == "json"
            ? lc.WriteTo.Console(new RenderedCompactJsonFormatter(), standardErrorFromLevel: LogEventLevel.Verbose)
            : lc.WriteTo.Console(
                outputTemplate: "{Timestamp:yyyy-MM-ddTHH:mm:ss.fffzzz} {Level:u3} {Message:lj}{NewLine}{Exception}",
                standardErrorFromLevel: LogEventLevel.Verbose);
        return lc.CreateLogger();
    }

    public static LogEventLevel ParseLevel(string level) => level switch
    {
        "trace" => LogEventLevel.Verbose,
        "debug" => LogEventLevel.Debug,
        "info" => LogEventLevel.Information,
        "warn" => LogEventLevel.Warning,
        "error" => LogEventLevel.Error,
        _ => throw new ArgumentOutOfRangeException(nameof(level), level, "unknown log level"),
    };
}
