namespace CriSharp.Streaming;

/// <summary>What a one-time streaming URL was issued for, kept until the client redeems its token.</summary>
public abstract record StreamSessionRequest
{
    /// <summary>The URL path segment: exec, attach or portforward.</summary>
    public abstract string Verb { get; }
}

/// <summary>A CRI Exec request, validated by the façade.</summary>
public sealed record ExecSessionRequest(string ContainerId, IReadOnlyList<string> Command, bool Tty, bool Stdin, bool Stdout, bool Stderr) : StreamSessionRequest
{
    public override string Verb => "exec";
}

/// <summary>A CRI Attach request, validated by the façade.</summary>
public sealed record AttachSessionRequest(string ContainerId, bool Tty, bool Stdin, bool Stdout, bool Stderr) : StreamSessionRequest
{
    public override string Verb => "attach";
}

/// <summary>A CRI PortForward request; <paramref name="Ports"/> are the ports a WebSocket session forwards (SPDY names its port per stream).</summary>
public sealed record PortForwardSessionRequest(string PodSandboxId, IReadOnlyList<int> Ports) : StreamSessionRequest
{
    public override string Verb => "portforward";
}
