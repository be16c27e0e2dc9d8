using CriSharp.Api.V1;
using CriSharp.Model;
using CriSharp.Streaming;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    public override Task<ExecResponse> Exec(ExecRequest request, ServerCallContext context)
    {
        var id = RequireRunningContainer(request.ContainerId);
        if (request.Cmd.Count == 0 || string.IsNullOrEmpty(request.Cmd[0]))
            throw CriSharpException.Required("cmd");
        RequireStreams(request.Stdin, request.Stdout, request.Stderr, request.Tty);
        var url = IssueStreamingUrl(new ExecSessionRequest(id, [.. request.Cmd], request.Tty, request.Stdin, request.Stdout, request.Stderr));
        return Task.FromResult(new ExecResponse { Url = url });
    }

    /// <summary>The container's id when it exists and is running (exec and attach need a live process).</summary>
    string RequireRunningContainer(string containerId)
    {
        var id = RequireId(containerId, "container_id");
        var container = containers.Find(id) ?? throw new CriSharpException(ErrorKind.NotFound, $"container {id} not found");
        if (container.State != Model.ContainerState.Running)
            throw new CriSharpException(ErrorKind.FailedPrecondition, $"container {id} is {container.State.ToString().ToLowerInvariant()}, not running");
        return container.Id;
    }

    static void RequireStreams(bool stdin, bool stdout, bool stderr, bool tty)
    {
        if (!stdin && !stdout && !stderr)
            throw new CriSharpException(ErrorKind.InvalidArgument, "one of stdin, stdout and stderr must be set");
        if (tty && stderr)
            throw new CriSharpException(ErrorKind.InvalidArgument, "tty and stderr cannot both be set (a terminal merges stderr into stdout)");
    }

    string IssueStreamingUrl(StreamSessionRequest request)
    {
        // A full session table throws StreamingBusyException: RESOURCE_EXHAUSTED through the one mapping.
        return streaming.CreateUrl(request);
    }
}
