namespace CriSharp.Streaming.RemoteCommand;

/// <summary>The remote command (exec/attach) subprotocols and stream names of Kubernetes, and what each version adds.</summary>
static class RemoteCommandProtocols
{
    /// <summary>v1: stdin/stdout/stderr/error streams; errors as plain text.</summary>
    public const string V1 = "channel.k8s.io";
    /// <summary>v2: the same streams with the error stream fixed (v1 servers reset it).</summary>
    public const string V2 = "v2.channel.k8s.io";
    /// <summary>v3: adds the resize stream.</summary>
    public const string V3 = "v3.channel.k8s.io";
    /// <summary>v4: the error stream carries a JSON metav1.Status with the exit code.</summary>
    public const string V4 = "v4.channel.k8s.io";
    /// <summary>v5 (WebSocket only): channel 255 half-closes a channel, so stdin can end.</summary>
    public const string V5 = "v5.channel.k8s.io";
    /// <summary>WebSocket variants whose frames are text: a channel digit, then base64.</summary>
    public const string Base64V1 = "base64.channel.k8s.io";
    public const string Base64V4 = "v4.base64.channel.k8s.io";

    /// <summary>SPDY versions we accept (the client's order of preference decides).</summary>
    public static readonly string[] Spdy = [V4, V3, V2, V1];
    /// <summary>WebSocket subprotocols we accept (a client that asks for none gets binary frames, v1 semantics).</summary>
    public static readonly string[] WebSocket = [V5, V4, Base64V4, V1, Base64V1];

    public const string StreamTypeHeader = "streamtype";
    public const string Error = "error";
    public const string Stdin = "stdin";
    public const string Stdout = "stdout";
    public const string Stderr = "stderr";
    public const string Resize = "resize";

    public static bool SupportsResize(string protocol) => protocol is V3 or V4 or V5;
    public static bool ReportsJsonStatus(string protocol) => protocol is V4 or V5 or Base64V4;
}
