using System.Buffers.Binary;
using System.Text;
using CriSharp.Conformance.RawHttp2;
using CriSharp.Daemon.Http2;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace CriSharp.Daemon.Tests.Http2;

/// <summary>Two in-process Kestrel servers on unix sockets: one with the rewrite middleware, one without.</summary>
public sealed class KestrelPairFixture : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "crisharp-h2-" + Guid.NewGuid().ToString("N")[..8]);
    private WebApplication? _app;

    public string RewritingSocket => Path.Combine(_directory, "rw.sock");

    public string PlainSocket => Path.Combine(_directory, "plain.sock");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.ListenUnixSocket(RewritingSocket, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                listen.UseAuthorityRewrite();
            });
            kestrel.ListenUnixSocket(PlainSocket, listen => listen.Protocols = HttpProtocols.Http2);
        });

        _app = builder.Build();

        // A gRPC-shaped unary endpoint whose reply message is the Host Kestrel saw plus the request payload.
        _app.MapPost("/runtime.v1.RuntimeService/Version", async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            var request = body.ToArray().AsSpan(5).ToArray();
            var reply = Encoding.ASCII.GetBytes(context.Request.Host.Value + "|").Concat(request).ToArray();
            var framed = new byte[5 + reply.Length];
            BinaryPrimitives.WriteUInt32BigEndian(framed.AsSpan(1), (uint)reply.Length);
            reply.CopyTo(framed, 5);
            context.Response.ContentType = "application/grpc";
            context.Response.AppendTrailer("grpc-status", "0");
            await context.Response.Body.WriteAsync(framed);
        });
        await _app.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        Directory.Delete(_directory, recursive: true);
    }
}

/// <summary>Real Kestrel, real sockets: the middleware makes socket-path authorities acceptable.</summary>
public class AuthorityRewriteEndToEndTests(KestrelPairFixture server) : IClassFixture<KestrelPairFixture>
{
    private const string Method = "/runtime.v1.RuntimeService/Version";
    private static readonly byte[] Request = [0x0a, 0x03, (byte)'0', (byte)'.', (byte)'1'];

    public static TheoryData<bool, bool, int, byte> Combinations()
    {
        var data = new TheoryData<bool, bool, int, byte>();
        foreach (var huffman in new[] { false, true })
        {
            foreach (var dynamic in new[] { false, true })
            {
                foreach (var fragment in new[] { 16384, 16 })
                {
                    foreach (var pad in new byte[] { 0, 7 })
                    {
                        data.Add(huffman, dynamic, fragment, pad);
                    }
                }
            }
        }

        return data;
    }

    private static CancellationToken Timeout() => new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token;

    [Theory]
    [MemberData(nameof(Combinations))]
    public async Task Socket_path_authority_is_accepted(bool huffman, bool dynamicTable, int fragmentSize, byte padLength)
    {
        var options = new RawHttp2Options(H2TestBytes.SocketAuthority, huffman, dynamicTable, fragmentSize, padLength);
        var results = await RawGrpcClient.UnaryCallsAsync(server.RewritingSocket, Method, Request, options, 3, Timeout());

        Assert.Equal(3, results.Count);
        foreach (var result in results)
        {
            Assert.True(result.HttpStatus == 200, $"HTTP {result.HttpStatus}: {result.GrpcMessage}");
            Assert.Equal(0, result.GrpcStatus);
            Assert.Equal<byte[]>([.. "localhost|"u8.ToArray(), .. Request], result.ResponseMessage);
        }
    }

    [Theory]
    [InlineData("localhost:1234")]
    [InlineData("[::1]:80")]
    public async Task Valid_authority_reaches_the_application_unchanged(string authority)
    {
        var results = await RawGrpcClient.UnaryCallsAsync(server.RewritingSocket, Method, Request, new RawHttp2Options(authority, true, true), 2, Timeout());
        Assert.All(results, r => Assert.Equal<byte[]>([.. Encoding.ASCII.GetBytes(authority + "|"), .. Request], r.ResponseMessage));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public async Task Without_the_middleware_kestrel_rejects_the_request(bool huffman, bool dynamicTable)
    {
        var options = new RawHttp2Options(H2TestBytes.SocketAuthority, huffman, dynamicTable);
        var results = await RawGrpcClient.UnaryCallsAsync(server.PlainSocket, Method, Request, options, 2, Timeout());
        Assert.All(results, r =>
        {
            Assert.Equal(0, r.HttpStatus);
            Assert.Null(r.ResponseMessage);
            Assert.Contains("PROTOCOL_ERROR", r.GrpcMessage);
        });

        // The same client against the plain listener works once the authority is valid.
        var ok = await RawGrpcClient.UnaryCallsAsync(server.PlainSocket, Method, Request, options with { Authority = "localhost" }, 1, Timeout());
        Assert.Equal(200, Assert.Single(ok).HttpStatus);
    }

    [Fact]
    public async Task A_stock_http2_client_with_large_bodies_passes_through()
    {
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(server.RewritingSocket), ct);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            },
        };
        using var client = new HttpClient(handler) { DefaultRequestVersion = System.Net.HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var payload = new byte[3 * 1024 * 1024];
        new Random(1).NextBytes(payload);
        var framed = new byte[5 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(framed.AsSpan(1), (uint)payload.Length);
        payload.CopyTo(framed, 5);
        for (var i = 0; i < 3; i++)
        {
            using var response = await client.PostAsync("http://localhost:5000" + Method, new ByteArrayContent(framed), Timeout());
            var body = await response.Content.ReadAsByteArrayAsync(Timeout());
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
            Assert.Equal([.. "localhost:5000|"u8.ToArray(), .. payload], body.AsSpan(5).ToArray());
        }
    }

    [Fact]
    public async Task Many_connections_in_parallel()
    {
        var tasks = Enumerable.Range(0, 16).Select(i => RawGrpcClient.UnaryCallsAsync(
            server.RewritingSocket, Method, Request, new RawHttp2Options(H2TestBytes.SocketAuthority, i % 2 == 0, i % 3 == 0, 1 + i, (byte)(i % 4)), 20, Timeout()));
        foreach (var results in await Task.WhenAll(tasks))
        {
            Assert.Equal(20, results.Count);
            Assert.All(results, r => Assert.Equal(0, r.GrpcStatus));
        }
    }
}
