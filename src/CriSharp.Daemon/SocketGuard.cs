using System.Net.Sockets;
using CriSharp.Linux;

namespace CriSharp.Daemon;

/// <summary>Prepares the listen socket path: parent dir, stale socket removal, refusal if a live daemon answers.</summary>
public static class SocketGuard
{
    public static void Prepare(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        switch (FileSystem.GetKind(path))
        {
            case FileKind.Missing:
                return;
            case FileKind.Socket when IsAnswering(path):
                throw new InvalidOperationException($"another daemon is already serving on {path}; refusing to start");
            case FileKind.Socket:
                File.Delete(path); // stale: left by a daemon that did not exit cleanly
                return;
            default:
                throw new InvalidOperationException($"{path} exists and is not a socket; refusing to replace it");
        }
    }

    /// <summary>True when something accepts connections on the unix socket.</summary>
    public static bool IsAnswering(string path)
    {
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            s.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
