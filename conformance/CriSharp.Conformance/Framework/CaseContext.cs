using CriSharp.Api.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace CriSharp.Conformance.Framework;

/// <summary>What a case gets: the endpoint, ready clients, a deadline and a cleanup stack.</summary>
public sealed class CaseContext
{
    private readonly Stack<(string What, Func<CancellationToken, Task> Action)> _cleanups = new();
    private readonly Queue<(string What, Func<CancellationToken, Task> Action)> _lastCleanups = new();

    internal CaseContext(Endpoint endpoint, GrpcChannel channel, DateTime deadline, CancellationToken cancellationToken, string? testRegistry = null)
    {
        Endpoint = endpoint;
        Channel = channel;
        Deadline = deadline;
        CancellationToken = cancellationToken;
        TestRegistryHost = testRegistry;
        Runtime = new RuntimeService.RuntimeServiceClient(channel);
        Images = new ImageService.ImageServiceClient(channel);
    }

    public Endpoint Endpoint { get; }

    /// <summary>Unix socket path of the endpoint under test.</summary>
    public string SocketPath => Endpoint.SocketPath;

    /// <summary>Shared grpc-dotnet channel (HTTP/2 over the unix socket, authority "localhost").</summary>
    public GrpcChannel Channel { get; }

    public RuntimeService.RuntimeServiceClient Runtime { get; }

    public ImageService.ImageServiceClient Images { get; }

    /// <summary>HOST:PORT of the test registry (<c>--test-registry</c>), or null when not given.</summary>
    public string? TestRegistryHost { get; }

    /// <summary>
    /// The test registry; a case that needs it fails (never skips) when <c>--test-registry</c> was not given.
    /// </summary>
    public TestRegistry Registry => TestRegistryHost is { } host
        ? new TestRegistry(host)
        : throw new CaseFailedException(
            "this case needs the test registry: pass --test-registry HOST:PORT (start one with 'hack/test-registry.sh start 5055')");

    /// <summary>UTC deadline of this case.</summary>
    public DateTime Deadline { get; }

    /// <summary>Cancelled when the per-case timeout expires.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>Call options carrying the case deadline and cancellation; pass to every RPC.</summary>
    public CallOptions Options => new(deadline: Deadline, cancellationToken: CancellationToken);

    /// <summary>
    /// Registers a cleanup (e.g. remove a pod) that runs after the case, pass or fail, in reverse
    /// order of registration, with its own timeout. A failing cleanup fails an otherwise passing case.
    /// </summary>
    public void Defer(string what, Func<CancellationToken, Task> cleanup) => _cleanups.Push((what, cleanup));

    /// <summary>
    /// Registers a cleanup that runs after every <see cref="Defer"/>red one (in registration order), e.g. removing an
    /// image pulled after the pod that uses it was started: the pod and its containers go first.
    /// </summary>
    public void DeferLast(string what, Func<CancellationToken, Task> cleanup) => _lastCleanups.Enqueue((what, cleanup));

    /// <summary>Calls a unary method by full name ("/pkg.Service/Method") with raw protobuf bytes.</summary>
    public async Task<byte[]> RawUnaryAsync(string fullMethod, byte[] request)
    {
        var parts = fullMethod.TrimStart('/').Split('/', 2);
        if (parts.Length != 2)
        {
            throw new ArgumentException($"method must look like /package.Service/Method, got {fullMethod}", nameof(fullMethod));
        }

        var marshaller = Marshallers.Create(static (byte[] b) => b, static b => b);
        var method = new Method<byte[], byte[]>(MethodType.Unary, parts[0], parts[1], marshaller, marshaller);
        return await Channel.CreateCallInvoker().AsyncUnaryCall(method, null, Options, request);
    }

    internal async Task<string?> RunCleanupsAsync(TimeSpan timeout)
    {
        var errors = new List<string>();
        while (_cleanups.TryPop(out var cleanup) || _lastCleanups.TryDequeue(out cleanup))
        {
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await cleanup.Action(cts.Token).WaitAsync(timeout + TimeSpan.FromSeconds(2));
            }
            catch (Exception e)
            {
                errors.Add($"cleanup '{cleanup.What}' failed: {Runner.Describe(e)}");
            }
        }

        return errors.Count == 0 ? null : string.Join("; ", errors);
    }
}
