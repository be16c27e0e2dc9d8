using System.Text;
using CriSharp.Configuration;
using CriSharp.Images.Registry;

namespace CriSharp.Images.Tests;

public sealed class RegistryEndpointsTests
{
    private static RegistriesConfig Config(Action<RegistriesConfig>? edit = null)
    {
        var c = new RegistriesConfig();
        edit?.Invoke(c);
        return c;
    }

    [Fact]
    public void Docker_hub_goes_to_registry_1_over_https_only()
    {
        var e = Assert.Single(RegistryEndpoints.For("docker.io", Config()));
        Assert.Equal(new Uri("https://registry-1.docker.io/"), e.BaseUri);
        Assert.False(e.PlainHttpFallback);
        Assert.False(e.SkipTlsVerify);
        Assert.False(e.IsMirror);
    }

    [Theory]
    [InlineData("localhost:5000")]
    [InlineData("127.0.0.1:5000")]
    [InlineData("[::1]:5000")]
    [InlineData("localhost")]
    public void Loopback_may_fall_back_to_plain_http(string host)
    {
        var e = Assert.Single(RegistryEndpoints.For(host, Config()));
        Assert.True(e.PlainHttpFallback);
        Assert.Equal("https", e.BaseUri.Scheme);
        Assert.Equal("http", e.AsPlainHttp().BaseUri.Scheme);
        Assert.Equal(e.BaseUri.Authority, e.AsPlainHttp().BaseUri.Authority);
    }

    [Fact]
    public void Insecure_hosts_skip_verification_and_may_use_http()
    {
        var listed = Assert.Single(RegistryEndpoints.For("reg.example.com:5000", Config(c => c.Insecure.Add("reg.example.com:5000"))));
        Assert.True(listed.SkipTlsVerify);
        Assert.True(listed.PlainHttpFallback);
        var flagged = Assert.Single(RegistryEndpoints.For("reg.example.com", Config(c => c.Hosts["reg.example.com"] = new() { Insecure = true })));
        Assert.True(flagged.SkipTlsVerify);
        var other = Assert.Single(RegistryEndpoints.For("other.example.com", Config(c => c.Insecure.Add("reg.example.com"))));
        Assert.False(other.SkipTlsVerify);
        Assert.False(other.PlainHttpFallback);
    }

    [Fact]
    public void Mirrors_come_first_in_order_then_upstream()
    {
        var config = Config(c => c.Hosts["docker.io"] = new()
        {
            Mirrors = ["http://10.0.0.1:5000", "mirror.example.com/dockerhub", "https://secure.example.com:8443/a/b"],
            CaDir = "/etc/crisharp/certs.d/docker.io",
        });
        var list = RegistryEndpoints.For("docker.io", config);
        Assert.Equal(4, list.Count);
        Assert.Equal(new Uri("http://10.0.0.1:5000/"), list[0].BaseUri);
        Assert.True(list[0].IsMirror);
        Assert.True(list[0].IsPlainHttp);
        Assert.Equal(new Uri("https://mirror.example.com/"), list[1].BaseUri);
        Assert.Equal("dockerhub", list[1].RepositoryPrefix);
        Assert.False(list[1].PlainHttpFallback);
        Assert.Equal("dockerhub/library/busybox", list[1].RepositoryPath("library/busybox"));
        Assert.Equal(new Uri("https://mirror.example.com/v2/dockerhub/library/busybox/manifests/latest"), list[1].ManifestUri("library/busybox", "latest"));
        Assert.Equal(new Uri("https://secure.example.com:8443/"), list[2].BaseUri);
        Assert.Equal("a/b", list[2].RepositoryPrefix);
        Assert.Equal(new Uri("https://registry-1.docker.io/"), list[3].BaseUri);
        Assert.Equal("/etc/crisharp/certs.d/docker.io", list[3].CaDir);
        Assert.All(list, e => Assert.Empty(e.ForbiddenHosts));
    }

    [Fact]
    public void Mirrors_only_never_lists_the_upstream_and_forbids_it()
    {
        var config = Config(c => c.Hosts["registry.k8s.io"] = new() { Mirrors = ["http://127.0.0.1:5000"], MirrorsOnly = true });
        var e = Assert.Single(RegistryEndpoints.For("registry.k8s.io", config));
        Assert.True(e.IsMirror);
        Assert.Contains("registry.k8s.io", e.ForbiddenHosts);
    }

    [Fact]
    public void Https_mirror_written_out_never_falls_back_even_when_insecure()
    {
        var config = Config(c =>
        {
            c.Hosts["quay.io"] = new() { Mirrors = ["https://127.0.0.1:5000", "127.0.0.1:5001"] };
            c.Insecure.Add("127.0.0.1:5000");
        });
        var list = RegistryEndpoints.For("quay.io", config);
        Assert.True(list[0].SkipTlsVerify);
        Assert.False(list[0].PlainHttpFallback);
        Assert.True(list[1].PlainHttpFallback);
    }

    [Fact]
    public void Invalid_mirror_location_is_reported()
    {
        var config = Config(c => c.Hosts["quay.io"] = new() { Mirrors = ["http://"] });
        var e = Assert.Throws<RegistryException>(() => RegistryEndpoints.For("quay.io", config));
        Assert.Contains("'http://'", e.Message);
        Assert.Contains("quay.io", e.Message);
    }

    [Fact]
    public void Parses_bearer_challenges_with_quoted_commas_and_escapes()
    {
        var list = AuthChallenge.Parse(
            "Bearer realm=\"https://auth.example.com/token?a=1,b=2\",service=\"registry.example.com\", scope=\"repository:a/b:pull,push\",error=\"say \\\"hi\\\"\"");
        var c = Assert.Single(list);
        Assert.True(c.IsBearer);
        Assert.Equal("https://auth.example.com/token?a=1,b=2", c["realm"]);
        Assert.Equal("registry.example.com", c["service"]);
        Assert.Equal("repository:a/b:pull,push", c["scope"]);
        Assert.Equal("say \"hi\"", c["error"]);
        Assert.Equal("registry.example.com", c["SERVICE"]);
    }

    [Fact]
    public void Parses_several_challenges_and_unquoted_values()
    {
        var list = AuthChallenge.Parse("Basic realm=reg, Bearer realm=\"https://t/token\" , service=svc");
        Assert.Equal(2, list.Count);
        Assert.True(list[0].IsBasic);
        Assert.Equal("reg", list[0]["realm"]);
        Assert.True(list[1].IsBearer);
        Assert.Equal("svc", list[1]["service"]);
        Assert.Empty(AuthChallenge.Parse("  "));
        Assert.True(Assert.Single(AuthChallenge.Parse("basic")).IsBasic);
    }

    [Fact]
    public void Credentials_from_auth_config()
    {
        Assert.Null(RegistryCredentials.FromAuthConfig("", "", "", "", ""));
        var direct = RegistryCredentials.FromAuthConfig("u", "p", "", "", "")!;
        Assert.Equal(("u", "p"), (direct.Username, direct.Password));
        var encoded = RegistryCredentials.FromAuthConfig("", "", Convert.ToBase64String(Encoding.UTF8.GetBytes("user:pa:ss")), "", "")!;
        Assert.Equal(("user", "pa:ss"), (encoded.Username, encoded.Password));
        var token = RegistryCredentials.FromAuthConfig("", "", "", "", "tok")!;
        Assert.Equal("tok", token.RegistryToken);
        Assert.Null(token.Username);
        var identity = RegistryCredentials.FromAuthConfig("", "", "", "refresh", "")!;
        Assert.Equal("refresh", identity.IdentityToken);
        Assert.Throws<ArgumentException>(() => RegistryCredentials.FromAuthConfig("", "", "not base64!", "", ""));
        Assert.DoesNotContain("secret", new RegistryCredentials("u", "secret", "secret", "secret").ToString());
    }
}
