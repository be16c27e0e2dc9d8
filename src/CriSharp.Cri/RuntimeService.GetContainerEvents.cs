using System.Threading.Channels;
using CriSharp.Api.V1;
using CriSharp.Runtime.Events;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class RuntimeService
{
    /// <summary>
    /// Streams container (and pod sandbox) lifecycle events until the client cancels. Response headers are sent
    /// as soon as the subscription exists, so a client that awaited them misses nothing published afterwards.
    /// </summary>
    public override async Task GetContainerEvents(GetEventsRequest request, IServerStreamWriter<ContainerEventResponse> responseStream, ServerCallContext context)
    {
        using var subscription = events.Subscribe();
        await context.WriteResponseHeadersAsync([]);
        try
        {
            await foreach (var e in subscription.Reader.ReadAllAsync(context.CancellationToken))
                await responseStream.WriteAsync(StatusMapping.Event(e), context.CancellationToken);
        }
        catch (ChannelClosedException e) when (e.InnerException is ContainerEventOverflowException overflow)
        {
            // RESOURCE_EXHAUSTED through the one mapping, as when the overflow is thrown directly.
            throw overflow;
        }
    }
}
