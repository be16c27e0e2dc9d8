using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Text;

namespace CriSharp.Streaming.Tests.Fakes;

/// <summary>
/// A backend with in-memory processes whose behaviour the command picks:
/// <c>echo</c> copies stdin to stdout, writes "err:" lines to stderr and exits 0; <c>exit N</c> prints and exits N;
/// <c>print TEXT</c>; <c>big N</c> writes N bytes; <c>size</c> prints the first terminal size it is given;
/// attach runs <c>echo</c> until stdin closes. Port dials connect to an in-memory echo.
/// </summary>
sealed class FakeBackend : IStreamingBackend
{
    public ConcurrentQueue<string> Calls { get; } = new();
    public ConcurrentQueue<FakeProcess> Processes { get; } = new();
    public ConcurrentQueue<int> DialedPorts { get; } = new();
    /// <summary>Dials to this port fail, as a closed port in the pod would.</summary>
    public int RefusedPort { get; set; } = -1;

    public Task<IStreamingProcess> ExecAsync(string containerId, IReadOnlyList<string> command, bool tty, bool stdin, CancellationToken ct)
    {
        Calls.Enqueue($"exec {containerId} {string.Join(' ', command)}");
        var process = new FakeProcess(tty, stdin);
        Processes.Enqueue(process);
        _ = RunAsync(process, command);
        return Task.FromResult<IStreamingProcess>(process);
    }

    public Task<IStreamingProcess> AttachAsync(string containerId, bool tty, bool stdin, CancellationToken ct)
    {
        Calls.Enqueue($"attach {containerId}");
        var process = new FakeProcess(tty, stdin);
        Processes.Enqueue(process);
        _ = RunAsync(process, ["echo"]);
        return Task.FromResult<IStreamingProcess>(process);
    }

    public Task<Stream> DialPodPortAsync(string podSandboxId, int port, CancellationToken ct)
    {
        Calls.Enqueue($"dial {podSandboxId} {port}");
        DialedPorts.Enqueue(port);
        if (port == RefusedPort) throw new IOException($"connection refused: localhost:{port}");
        return Task.FromResult<Stream>(new EchoConnection(port));
    }

    static async Task RunAsync(FakeProcess p, IReadOnlyList<string> command)
    {
        try
        {
            switch (command[0])
            {
                case "echo":
                    {
                        using var reader = new StreamReader(p.ProgramStdin, Encoding.UTF8);
                        string? line;
                        while ((line = await reader.ReadLineAsync(p.Killed)) != null)
                        {
                            await p.WriteStdoutAsync(line + "\n");
                            await p.WriteStderrAsync("err:" + line + "\n");
                        }
                        p.Exit(0);
                        break;
                    }
                case "exit":
                    await p.WriteStdoutAsync("exiting\n");
                    p.Exit(int.Parse(command[1]));
                    break;
                case "print":
                    await p.WriteStdoutAsync(command[1]);
                    p.Exit(0);
                    break;
                case "big":
                    {
                        int n = int.Parse(command[1]);
                        var bytes = new byte[n];
                        for (int i = 0; i < n; i++) bytes[i] = (byte)('a' + i % 26);
                        await p.WriteStdoutAsync(bytes);
                        p.Exit(0);
                        break;
                    }
                case "size":
                    {
                        var (w, h) = await p.FirstResize.Task.WaitAsync(p.Killed);
                        await p.WriteStdoutAsync($"{h} {w}\n");
                        p.Exit(0);
                        break;
                    }
                case "wait":
                    await Task.Delay(Timeout.Infinite, p.Killed);
                    break;
                default:
                    throw new InvalidOperationException($"fake backend has no program '{command[0]}'");
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>An in-memory connection to a pod port that answers "port N: " + whatever it receives.</summary>
    sealed class EchoConnection : Stream
    {
        readonly Pipe _toClient = new();
        readonly string _prefix;

        public EchoConnection(int port) => _prefix = $"port {port}: ";

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            await _toClient.Writer.WriteAsync(Encoding.UTF8.GetBytes(_prefix), ct);
            await _toClient.Writer.WriteAsync(buffer, ct);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            var result = await _toClient.Reader.ReadAsync(ct);
            int n = (int)Math.Min(buffer.Length, result.Buffer.Length);
            result.Buffer.Slice(0, n).CopyTo(buffer.Span);
            _toClient.Reader.AdvanceTo(result.Buffer.GetPosition(n));
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

        protected override void Dispose(bool disposing)
        {
            _toClient.Writer.Complete();
            base.Dispose(disposing);
        }

        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
