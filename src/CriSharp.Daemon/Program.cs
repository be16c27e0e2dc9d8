using CriSharp.Daemon;

return await DaemonCommandLine.Build().Parse(args).InvokeAsync(new System.CommandLine.InvocationConfiguration
{
    // The host handles SIGTERM/SIGINT itself (graceful drain); System.CommandLine must not.
    ProcessTerminationTimeout = null,
});
