using CriSharp.Images.Content;
using CriSharp.Images.References;
using CriSharp.Images.Registry;
using CriSharp.TestSupport;
using RegistryCredentials = CriSharp.Images.Registry.RegistryCredentials;

namespace CriSharp.Images.Tests;

/// <summary>A Basic-auth and a token-auth docker-registry, each with busybox pushed.</summary>
public sealed class AuthRegistries : IAsyncLifetime
{
    public RegistryFixture Basic { get; private set; } = null!;
    public RegistryFixture Token { get; private set; } = null!;
    public BuiltImage BasicBusybox { get; private set; } = null!;
    public BuiltImage TokenBusybox { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var basic = RegistryFixture.BasicAuth();
        var token = RegistryFixture.TokenAuth();
        Basic = await basic;
        Token = await token;
        BasicBusybox = (await TestImages.PushAsync(Basic, TestImages.Busybox))[0];
        TokenBusybox = (await TestImages.PushAsync(Token, TestImages.Busybox))[0];
    }

    public async Task DisposeAsync()
    {
        if (Basic is not null) await Basic.DisposeAsync();
        if (Token is not null) await Token.DisposeAsync();
    }
}

public sealed class AuthRegistryTests(AuthRegistries fixture) : IClassFixture<AuthRegistries>
{
    private static RegistryCredentials Right(RegistryFixture r) => new(r.User, r.Password, null, null);
    private static RegistryCredentials Wrong(RegistryFixture r) => new(r.User, "not-the-password", null, null);

    private static async Task PullAsync(RegistryFixture registry, BuiltImage built, RegistryCredentials? credentials)
    {
        using var client = new TestClient();
        var image = await client.Client.ResolveAsync(ImageReference.Parse(built.Reference), credentials, default);
        Assert.Equal(built.ManifestDigest, image.ManifestDigest.ToString());
        foreach (var layer in image.Layers)
            Assert.Equal(layer.Digest, Digest.Of(await client.FetchAsync(image, layer)));
    }

    private static async Task AssertUnauthenticatedAsync(RegistryFixture registry, BuiltImage built, RegistryCredentials? credentials)
    {
        using var client = new TestClient();
        var e = await Assert.ThrowsAsync<RegistryException>(() =>
            client.Client.ResolveAsync(ImageReference.Parse(built.Reference), credentials, default));
        Assert.Equal(RegistryErrorKind.Unauthenticated, e.Reason);
        Assert.Contains(registry.Host, e.Message);
        Assert.Contains(built.Repository, e.Message);
    }

    [Fact]
    public Task Basic_auth_with_right_credentials_pulls() => PullAsync(fixture.Basic, fixture.BasicBusybox, Right(fixture.Basic));

    [Fact]
    public Task Basic_auth_with_wrong_password_is_Unauthenticated() =>
        AssertUnauthenticatedAsync(fixture.Basic, fixture.BasicBusybox, Wrong(fixture.Basic));

    [Fact]
    public Task Basic_auth_without_credentials_is_Unauthenticated() =>
        AssertUnauthenticatedAsync(fixture.Basic, fixture.BasicBusybox, null);

    [Fact]
    public Task Basic_auth_from_an_encoded_auth_field_pulls() =>
        PullAsync(fixture.Basic, fixture.BasicBusybox, RegistryCredentials.FromAuthConfig("", "",
            Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{fixture.Basic.User}:{fixture.Basic.Password}")), "", ""));

    [Fact]
    public async Task Token_auth_with_right_credentials_pulls()
    {
        var before = fixture.Token.TokenServer!.Requests.Count;
        await PullAsync(fixture.Token, fixture.TokenBusybox, Right(fixture.Token));
        // Tokens are cached per scope: a handful of token requests, not one per blob.
        var issued = fixture.Token.TokenServer.Requests.Skip(before).ToList();
        Assert.InRange(issued.Count, 1, 3);
        Assert.Contains(issued, r => r.User == fixture.Token.User && r.CredentialsValid);
    }

    [Fact]
    public Task Token_auth_with_wrong_password_is_Unauthenticated() =>
        AssertUnauthenticatedAsync(fixture.Token, fixture.TokenBusybox, Wrong(fixture.Token));

    [Fact]
    public Task Token_auth_without_credentials_is_Unauthenticated() =>
        AssertUnauthenticatedAsync(fixture.Token, fixture.TokenBusybox, null);

    [Fact]
    public Task Token_auth_with_a_bogus_registry_token_is_Unauthenticated() =>
        AssertUnauthenticatedAsync(fixture.Token, fixture.TokenBusybox, new RegistryCredentials(null, null, null, "not-a-jwt"));

    [Fact]
    public async Task Token_auth_with_a_registry_token_is_used_directly()
    {
        var server = fixture.Token.TokenServer!;
        var access = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject
        {
            ["type"] = "repository",
            ["name"] = fixture.TokenBusybox.Repository,
            ["actions"] = new System.Text.Json.Nodes.JsonArray("pull"),
        });
        var token = server.IssueToken(fixture.Token.User!, access, DateTimeOffset.UtcNow, 300);
        var before = server.Requests.Count;
        await PullAsync(fixture.Token, fixture.TokenBusybox, new RegistryCredentials(null, null, null, token));
        Assert.Equal(before, server.Requests.Count);
    }
}
