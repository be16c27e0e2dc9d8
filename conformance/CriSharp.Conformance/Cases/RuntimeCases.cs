using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;
using CriSharp.Conformance.RawHttp2;
using Google.Protobuf;
using Grpc.Core;

namespace CriSharp.Conformance.Cases;

/// <summary>RuntimeService basics: Version, Status, RuntimeConfig, and transport compatibility.</summary>
[CaseArea("Runtime")]
public sealed class RuntimeCases
{
    private const string VersionMethod = "/runtime.v1.RuntimeService/Version";

    [Case("Version reports v1 API")]
    public async Task VersionReportsV1(CaseContext ctx)
    {
        var r = await ctx.Runtime.VersionAsync(new VersionRequest { Version = "v1" }, ctx.Options);
        Check.Equal("v1", r.RuntimeApiVersion, "runtime_api_version");
        Check.NotEmpty(r.RuntimeName, "runtime_name");
        Check.NotEmpty(r.RuntimeVersion, "runtime_version");
    }

    [Case("Status reports RuntimeReady true")]
    public async Task StatusRuntimeReady(CaseContext ctx)
    {
        var conditions = await ConditionsAsync(ctx);
        var ready = conditions.Where(c => c.Type == "RuntimeReady").ToList();
        Check.Equal(1, ready.Count, "number of RuntimeReady conditions");
        Check.True(ready[0].Status, $"RuntimeReady is false (reason '{ready[0].Reason}', message '{ready[0].Message}')");
    }

    [Case("Status reports a NetworkReady condition")]
    public async Task StatusNetworkReadyPresent(CaseContext ctx)
    {
        var conditions = await ConditionsAsync(ctx);
        Check.Equal(1, conditions.Count(c => c.Type == "NetworkReady"), "number of NetworkReady conditions");
    }

    [Case("Status conditions that are false carry reason and message")]
    public async Task StatusFalseConditionsExplained(CaseContext ctx)
    {
        foreach (var c in await ConditionsAsync(ctx))
        {
            Check.NotEmpty(c.Type, "condition type");
            if (!c.Status)
            {
                Check.NotEmpty(c.Reason, $"reason of false condition {c.Type}");
                Check.NotEmpty(c.Message, $"message of false condition {c.Type}");
            }
        }
    }

    // The proto says info values "should be in json format", but that is advice, not contract:
    // containerd returns e.g. lastCNILoadStatus = "OK". Only non-emptiness is required.
    [Case("Status verbose returns a non-empty info map")]
    public async Task StatusVerboseInfo(CaseContext ctx)
    {
        var r = await ctx.Runtime.StatusAsync(new StatusRequest { Verbose = true }, ctx.Options);
        Check.True(r.Info.Count > 0, "verbose Status returned an empty info map");
    }

    [Case("Status non-verbose returns no info")]
    public async Task StatusNonVerboseNoInfo(CaseContext ctx)
    {
        var r = await ctx.Runtime.StatusAsync(new StatusRequest { Verbose = false }, ctx.Options);
        Check.Equal(0, r.Info.Count, "info entries without verbose");
    }

    [Case("RuntimeConfig reports a cgroup driver")]
    public async Task RuntimeConfigCgroupDriver(CaseContext ctx)
    {
        var r = await ctx.Runtime.RuntimeConfigAsync(new RuntimeConfigRequest(), ctx.Options);
        var linux = Check.NotNull(r.Linux, "RuntimeConfigResponse.linux");
        Check.True(
            linux.CgroupDriver is CgroupDriver.Systemd or CgroupDriver.Cgroupfs,
            $"cgroup_driver {(int)linux.CgroupDriver} is neither SYSTEMD nor CGROUPFS");
    }

    [Case("Unknown method returns UNIMPLEMENTED")]
    public async Task UnknownMethod(CaseContext ctx)
    {
        await Check.RpcFailsAsync(
            StatusCode.Unimplemented,
            () => ctx.RawUnaryAsync("/runtime.v1.RuntimeService/NoSuchMethod", []),
            "/runtime.v1.RuntimeService/NoSuchMethod");
    }

    // Old grpc-go clients (crictl, kubelet < 1.2x) dial the socket path with a passthrough target
    // and therefore send the socket path as :authority. A CRI server must accept that, with any
    // HPACK encoding and HTTP/2 framing the client may choose.
    [Case("Version with :authority = socket path (plain HPACK)")]
    public Task AuthorityPlain(CaseContext ctx) => AuthorityVersionAsync(ctx, o => o, count: 1);

    [Case("Version with :authority = socket path (Huffman)")]
    public Task AuthorityHuffman(CaseContext ctx) => AuthorityVersionAsync(ctx, o => o with { Huffman = true }, count: 1);

    [Case("Version with :authority = socket path (HPACK dynamic table, 3 calls)")]
    public Task AuthorityDynamicTable(CaseContext ctx) => AuthorityVersionAsync(ctx, o => o with { UseDynamicTable = true }, count: 3);

    [Case("Version with :authority = socket path (CONTINUATION frames)")]
    public Task AuthorityContinuation(CaseContext ctx) => AuthorityVersionAsync(ctx, o => o with { HeaderFragmentSize = 16 }, count: 1);

    [Case("Version with :authority = socket path (padded frames)")]
    public Task AuthorityPadding(CaseContext ctx) => AuthorityVersionAsync(ctx, o => o with { PadLength = 7 }, count: 1);

    private static async Task<IReadOnlyList<RuntimeCondition>> ConditionsAsync(CaseContext ctx)
    {
        var r = await ctx.Runtime.StatusAsync(new StatusRequest(), ctx.Options);
        var status = Check.NotNull(r.Status, "StatusResponse.status");
        return status.Conditions;
    }

    private static async Task AuthorityVersionAsync(CaseContext ctx, Func<RawHttp2Options, RawHttp2Options> variant, int count)
    {
        var options = variant(new RawHttp2Options(Authority: ctx.SocketPath));
        var request = new VersionRequest { Version = "v1" }.ToByteArray();
        var results = await RawGrpcClient.UnaryCallsAsync(ctx.SocketPath, VersionMethod, request, options, count, ctx.CancellationToken);
        Check.Equal(count, results.Count, "number of results");
        for (var i = 0; i < results.Count; i++)
        {
            var r = results[i];
            var what = count == 1 ? "Version" : $"Version call {i + 1}";
            Check.Equal(200, r.HttpStatus, $"{what}: HTTP status");
            Check.True(r.GrpcStatus == 0, $"{what}: grpc-status {r.GrpcStatus?.ToString() ?? "missing"} ({r.GrpcMessage})");
            var payload = Check.NotNull(r.ResponseMessage, $"{what}: response message");
            VersionResponse response;
            try
            {
                response = VersionResponse.Parser.ParseFrom(payload);
            }
            catch (InvalidProtocolBufferException e)
            {
                throw Check.Fail($"{what}: response is not a VersionResponse: {e.Message}");
            }

            Check.Equal("v1", response.RuntimeApiVersion, $"{what}: runtime_api_version");
            Check.NotEmpty(response.RuntimeName, $"{what}: runtime_name");
        }
    }
}
