using System.Net.Sockets;
using Grpc.Net.Client;

namespace CriSharp.Conformance.Framework;

/// <summary>A CRI endpoint; only unix sockets (<c>unix:///path</c> or a bare absolute path).</summary>
public sealed record Endpoint(string Uri, string SocketPath)
{
    public static Endpoint Parse(string value)
    {
        if (value.StartsWith("unix://", StringComparison.Ordinal))
        {
            var path = value["unix://".Length..];
            if (!path.StartsWith('/'))
            {
                throw new ArgumentException($"endpoint '{value}' must be unix:///absolute/path");
            }

            return new Endpoint(value, path);
        }

        if (value.StartsWith('/'))
        {
            return new Endpoint("unix://" + value, value);
        }

        throw new ArgumentException($"endpoint '{value}' is not supported; use unix:///absolute/path");
    }

    /// <summary>A grpc-dotnet channel to the socket (address http://localhost, HTTP/2 prior knowledge).</summary>
    public GrpcChannel CreateChannel()
    {
        var socketPath = SocketPath;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch (SocketException e)
                {
                    socket.Dispose();
                    throw new IOException($"cannot connect to unix socket {socketPath}: {e.SocketErrorCode} ({e.Message})", e);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
            EnableMultipleHttp2Connections = false,
        };

        return GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxReceiveMessageSize = 16 * 1024 * 1024,
            MaxSendMessageSize = 16 * 1024 * 1024,
        });
    }
}
