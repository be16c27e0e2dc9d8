using System.Buffers;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using CriSharp.Linux;
using CriSharp.Mechanism.Monitor;
using CriSharp.Model;
using CriSharp.State;
using CriSharp.Streaming;

namespace CriSharp.Runtime.Exec;

/// <summary>
/// An attach to a container's main process through conmon's attach socket (unix SOCK_SEQPACKET). conmon keeps
/// writing the container's log whatever the attached clients do; each packet it sends is one read of the
/// container's stdio prefixed with the pipe it came from (conmon's stdpipe_t: 2 stdout, 3 stderr; a terminal is
/// all stdout). What we send is written to the container's stdin; shutting down our sending side closes it
/// when the container was created with stdin_once. Resizes go through conmon's control FIFO.
/// </summary>
sealed class AttachSession : IStreamingProcess
{
    const byte StdoutPipe = 2, StderrPipe = 3;
    const int WinResizeEvent = 1; // conmon's WIN_RESIZE_EVENT, src/config.h
    // conmon reads at most CONN_SOCK_BUF_SIZE (32 KiB) per packet from us; stay well below.
    const int MaxStdinPacket = 8192;
    static readonly TimeSpan ExitSettle = TimeSpan.FromSeconds(2);
    const int MaxSocketPath = 107; // sockaddr_un.sun_path less its terminating NUL

    readonly Socket _socket;
    readonly ContainerRecord _container;
    readonly RecordIndex<ContainerRecord> _containers;
    readonly PacketReadStream _stdout = new();
    readonly PacketReadStream? _stderr;
    readonly TaskCompletionSource<int> _containerExited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly Task _reader;
    readonly CancellationTokenSource _stop = new();
    int _disposed;

    AttachSession(Socket socket, ContainerRecord container, RecordIndex<ContainerRecord> containers, bool tty, bool stdin)
    {
        _socket = socket;
        _container = container;
        _containers = containers;
        _stderr = tty ? null : new PacketReadStream();
        Stdin = stdin ? new AttachStdinStream(socket) : null;
        _containers.Changed += OnChanged;
        // It may have exited between the caller's check and the subscription.
        var current = _containers.Get(container.Id);
        if (current is not { State: ContainerState.Running }) OnChanged(container.Id, current);
        _reader = Task.Run(ReadLoopAsync);
        Exited = WaitForEndAsync();
    }

    public static async Task<AttachSession> ConnectAsync(IContainerMonitor monitor, ContainerRecord container,
        RecordIndex<ContainerRecord> containers, bool tty, bool stdin, CancellationToken ct)
    {
        var path = monitor.AttachSocketOf(container.Id);
        var socket = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
        var directory = -1;
        try
        {
            // sun_path holds 107 bytes: under a deep state_dir, reach the socket through its directory's descriptor,
            // the way conmon binds it.
            var endpoint = path;
            if (Encoding.UTF8.GetByteCount(path) > MaxSocketPath)
            {
                directory = FileSystem.OpenDirectory(Path.GetDirectoryName(path)!);
                endpoint = $"/proc/self/fd/{directory}/{Path.GetFileName(path)}";
            }
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(endpoint), ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or LinuxException)
        {
            socket.Dispose();
            throw new WrongStateException($"cannot attach to container {container.Id}: its monitor's attach socket {path}: {e.Message}");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        finally
        {
            Pipes.Close(directory);
        }
        return new AttachSession(socket, container, containers, tty, stdin);
    }

    public Stream? Stdin { get; }
    public Stream Stdout => _stdout;
    public Stream? Stderr => _stderr;
    public Task<int> Exited { get; }

    public Task ResizeAsync(ushort width, ushort height, CancellationToken ct)
    {
        var line = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{WinResizeEvent} {height} {width}\n"));
        Pipes.TryWriteFifo(ConmonMonitor.ControlFifoPath(_container.BundleDir), line);
        return Task.CompletedTask;
    }

    public void CloseStdin()
    {
        try { _socket.Shutdown(SocketShutdown.Send); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
    }

    void OnChanged(string id, ContainerRecord? record)
    {
        if (id != _container.Id) return;
        if (record is null) _containerExited.TrySetResult(-1);
        else if (record.State is ContainerState.Exited or ContainerState.Unknown) _containerExited.TrySetResult(record.ExitCode);
    }

    async Task ReadLoopAsync()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (true)
            {
                var n = await _socket.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, _stop.Token).ConfigureAwait(false);
                if (n == 0) break;
                if (n == 1) continue;
                var data = buffer.AsSpan(1, n - 1);
                if (buffer[0] == StderrPipe && _stderr != null) _stderr.Post(data);
                else if (buffer[0] is StdoutPipe or StderrPipe or 1) _stdout.Post(data);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Detached, or conmon went away with the container.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            _stdout.Complete();
            _stderr?.Complete();
        }
    }

    /// <summary>Ends when the container exited and conmon delivered its last output, or when conmon closed the socket.</summary>
    async Task<int> WaitForEndAsync()
    {
        var first = await Task.WhenAny(_containerExited.Task, _reader).ConfigureAwait(false);
        if (first == _containerExited.Task)
        {
            await Task.WhenAny(_reader, Task.Delay(ExitSettle)).ConfigureAwait(false);
            return _containerExited.Task.Result;
        }
        // The socket closed first: conmon exits right after the container, whose exit is about to be recorded.
        return await Task.WhenAny(_containerExited.Task, Task.Delay(ExitSettle)).ConfigureAwait(false) == _containerExited.Task
            ? _containerExited.Task.Result
            : 0;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _containers.Changed -= OnChanged;
        _stop.Cancel();
        _socket.Dispose();
        await _reader.ConfigureAwait(false);
        _stdout.Dispose();
        _stderr?.Dispose();
        Stdin?.Dispose();
        _stop.Dispose();
    }

    /// <summary>Writes to the attach socket in packets conmon reads whole.</summary>
    sealed class AttachStdinStream(Socket socket) : Stream
    {
        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            while (!buffer.IsEmpty)
            {
                var chunk = buffer[..Math.Min(buffer.Length, MaxStdinPacket)];
                try
                {
                    await socket.SendAsync(chunk, SocketFlags.None, ct).ConfigureAwait(false);
                }
                catch (SocketException e)
                {
                    throw new IOException($"attach stdin: {e.Message}", e);
                }
                buffer = buffer[chunk.Length..];
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
            WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

        public override void Write(byte[] buffer, int offset, int count) =>
            WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override Task FlushAsync(CancellationToken ct) => Task.CompletedTask;
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
