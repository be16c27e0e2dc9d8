namespace CriSharp.Streaming.PortForward;

/// <summary>Port-forward subprotocols and stream headers of Kubernetes.</summary>
static class PortForwardProtocols
{
    /// <summary>The SPDY subprotocol (and a WebSocket one some clients ask for).</summary>
    public const string V1 = "portforward.k8s.io";
    public static readonly string[] Spdy = [V1];
    /// <summary>WebSocket: binary channel pairs per port, or their base64 text form.</summary>
    public static readonly string[] WebSocket = ["v4.channel.k8s.io", "v4.base64.channel.k8s.io", V1];

    public const string StreamTypeHeader = "streamtype";
    public const string PortHeader = "port";
    public const string RequestIdHeader = "requestid";
    public const string Data = "data";
    public const string Error = "error";
}
