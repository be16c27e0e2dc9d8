using System.Text;
using CriSharp.Api.V1;
using CriSharp.TestSupport;
using Grpc.Core;

namespace CriSharp.Integration.Tests.Images;

/// <summary>PullImage with AuthConfig against registries behind htpasswd Basic auth and Docker token auth.</summary>
public sealed class ImagePullAuthTests(ImagePullAuthTests.Fixture fixture) : IClassFixture<ImagePullAuthTests.Fixture>
{
    public sealed class Fixture : IAsyncLifetime
    {
        public Dictionary<RegistryVariant, (RegistryFixture Registry, BuiltImage Busybox)> Registries { get; } = [];

        public async Task InitializeAsync()
        {
            foreach (var variant in new[] { RegistryVariant.BasicAuth, RegistryVariant.TokenAuth })
            {
                var registry = await RegistryFixture.StartAsync(variant);
                Registries[variant] = (registry, (await TestImages.PushAsync(registry, TestImages.Busybox))[0]);
            }
        }

        public async Task DisposeAsync()
        {
            foreach (var (registry, _) in Registries.Values) await registry.DisposeAsync();
        }
    }

    [Theory]
    [InlineData(RegistryVariant.BasicAuth)]
    [InlineData(RegistryVariant.TokenAuth)]
    public async Task Pulls_with_username_password_or_auth_and_refuses_missing_or_wrong_credentials(RegistryVariant variant)
    {
        var (registry, busybox) = fixture.Registries[variant];
        using var d = await ImageDaemon.StartAsync();
        const string wrongPassword = "not-the-secret-4711";

        var none = await d.PullFailsAsync(busybox.Reference);
        Assert.Equal(StatusCode.Unauthenticated, none.StatusCode);
        Assert.Contains(registry.Host, none.Status.Detail);
        Assert.Contains("crisharp-test/busybox", none.Status.Detail);

        var wrong = await d.PullFailsAsync(busybox.Reference, new AuthConfig { Username = registry.User, Password = wrongPassword });
        Assert.Equal(StatusCode.Unauthenticated, wrong.StatusCode);
        Assert.Contains(registry.Host, wrong.Status.Detail);
        Assert.Contains("repository crisharp-test/busybox", wrong.Status.Detail);
        Assert.Contains("credentials", wrong.Status.Detail);
        Assert.DoesNotContain(wrongPassword, wrong.Status.Detail);
        Assert.Empty(await d.ListAsync());

        var id = await d.PullAsync(busybox.Reference, new AuthConfig { Username = registry.User, Password = registry.Password });
        Assert.Equal(busybox.ConfigDigest, id);
        Assert.Equal(id, Assert.Single(await d.ListAsync()).Id);
        await d.RemoveAsync(id);
        Assert.Empty(d.BlobEntries());

        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{registry.User}:{registry.Password}"));
        Assert.Equal(id, await d.PullAsync(busybox.Reference, new AuthConfig { Auth = auth }));
        Assert.Equal(id, Assert.Single(await d.ListAsync()).Id);

        // Secrets never reach the daemon's log (at debug level).
        Assert.DoesNotContain(registry.Password!, d.Daemon.Stderr);
        Assert.DoesNotContain(wrongPassword, d.Daemon.Stderr);
        Assert.DoesNotContain(auth, d.Daemon.Stderr);
    }
}
