using CriSharp.Images.Registry;
using CriSharp.Model;
using CriSharp.Network;
using Grpc.Core;

namespace CriSharp.Cri.Tests;

/// <summary>The one mapping from the engine's failures to the gRPC status a kubelet sees.</summary>
public class ErrorMappingTests
{
    [Fact]
    public void Every_error_kind_becomes_the_status_code_of_its_name()
    {
        foreach (var kind in Enum.GetValues<ErrorKind>())
            Assert.Equal(Enum.Parse<StatusCode>(kind.ToString()), ErrorMapping.Code(kind));
    }

    [Fact]
    public void An_engine_failure_keeps_its_message_and_gets_its_kinds_code()
    {
        var rpc = ErrorMapping.ToRpc(new WrongStateException("container c1 is exited, not running"), new Context());

        Assert.Equal(StatusCode.FailedPrecondition, rpc.StatusCode);
        Assert.Equal("container c1 is exited, not running", rpc.Status.Detail);
    }

    [Theory]
    [InlineData(RegistryErrorKind.NotFound, StatusCode.NotFound)]
    [InlineData(RegistryErrorKind.Unauthenticated, StatusCode.Unauthenticated)]
    [InlineData(RegistryErrorKind.Stalled, StatusCode.DeadlineExceeded)]
    [InlineData(RegistryErrorKind.Network, StatusCode.Unavailable)]
    [InlineData(RegistryErrorKind.Hostile, StatusCode.FailedPrecondition)]
    [InlineData(RegistryErrorKind.Unsupported, StatusCode.FailedPrecondition)]
    public void Registry_failures_map_by_their_reason(RegistryErrorKind reason, StatusCode code) =>
        Assert.Equal(code, ErrorMapping.ToRpc(new RegistryException(reason, "r"), new Context()).StatusCode);

    [Fact]
    public void Engine_exceptions_of_every_layer_carry_their_kind()
    {
        Assert.Equal(StatusCode.InvalidArgument, ErrorMapping.ToRpc(new SpecException("config.linux", "bad"), new Context()).StatusCode);
        Assert.Equal(StatusCode.AlreadyExists, ErrorMapping.ToRpc(new NameInUseException("taken"), new Context()).StatusCode);
        Assert.Equal(StatusCode.FailedPrecondition, ErrorMapping.ToRpc(CniException.NetworkNotReady("no config"), new Context()).StatusCode);
        Assert.Equal(StatusCode.Internal, ErrorMapping.ToRpc(new CniException("plugin crashed"), new Context()).StatusCode);
        var field = CriSharpException.Required("config.metadata");
        Assert.Equal(("config.metadata", "config.metadata is required"), (field.Field, field.Message));
    }

    [Fact]
    public void A_bug_of_ours_is_internal_and_names_the_rpc()
    {
        var rpc = ErrorMapping.ToRpc(new InvalidOperationException("boom"), new Context());

        Assert.Equal(StatusCode.Internal, rpc.StatusCode);
        Assert.Equal("/runtime.v1.RuntimeService/Version: boom", rpc.Status.Detail);
    }

    [Fact]
    public void A_cancellation_is_cancelled_only_when_the_caller_cancelled()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.Equal(StatusCode.Cancelled, ErrorMapping.ToRpc(new OperationCanceledException(), new Context(cts.Token)).StatusCode);
        Assert.Equal(StatusCode.Internal, ErrorMapping.ToRpc(new OperationCanceledException(), new Context()).StatusCode);
    }

    /// <summary>The parts of a call the mapping reads: its method and its cancellation.</summary>
    sealed class Context(CancellationToken ct = default) : ServerCallContext
    {
        protected override string MethodCore => "/runtime.v1.RuntimeService/Version";
        protected override string HostCore => "localhost";
        protected override string PeerCore => "unix:";
        protected override DateTime DeadlineCore => DateTime.MaxValue;
        protected override Metadata RequestHeadersCore => [];
        protected override CancellationToken CancellationTokenCore => ct;
        protected override Metadata ResponseTrailersCore => [];
        protected override Status StatusCore { get; set; }
        protected override WriteOptions? WriteOptionsCore { get; set; }
        protected override AuthContext AuthContextCore => new(null, []);

        protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) =>
            throw new NotSupportedException();

        protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
    }
}
