using CriSharp.Images.Content;
using CriSharp.Images.References;

namespace CriSharp.Images.Tests;

public sealed class ImageReferenceTests
{
    private const string Hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    [Theory]
    [InlineData("busybox", "docker.io", "library/busybox", "latest", null, "docker.io/library/busybox:latest")]
    [InlineData("busybox:1.36", "docker.io", "library/busybox", "1.36", null, "docker.io/library/busybox:1.36")]
    [InlineData("user/repo", "docker.io", "user/repo", "latest", null, "docker.io/user/repo:latest")]
    [InlineData("docker.io/busybox", "docker.io", "library/busybox", "latest", null, "docker.io/library/busybox:latest")]
    [InlineData("index.docker.io/library/busybox", "docker.io", "library/busybox", "latest", null, "docker.io/library/busybox:latest")]
    [InlineData("docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", null, "docker.io/library/busybox:latest")]
    [InlineData("registry.k8s.io/pause:3.9", "registry.k8s.io", "pause", "3.9", null, "registry.k8s.io/pause:3.9")]
    [InlineData("quay.io/a/b/c", "quay.io", "a/b/c", "latest", null, "quay.io/a/b/c:latest")]
    [InlineData("localhost/x", "localhost", "x", "latest", null, "localhost/x:latest")]
    [InlineData("localhost:5000/x:v1", "localhost:5000", "x", "v1", null, "localhost:5000/x:v1")]
    [InlineData("127.0.0.1:5055/crisharp-test/busybox", "127.0.0.1:5055", "crisharp-test/busybox", "latest", null, "127.0.0.1:5055/crisharp-test/busybox:latest")]
    [InlineData("[::1]:5000/x", "[::1]:5000", "x", "latest", null, "[::1]:5000/x:latest")]
    [InlineData("myhost:5000/repo", "myhost:5000", "repo", "latest", null, "myhost:5000/repo:latest")]
    [InlineData("Registry.Example.COM/repo", "registry.example.com", "repo", "latest", null, "registry.example.com/repo:latest")]
    [InlineData("busybox@sha256:" + Hex, "docker.io", "library/busybox", null, Hex, "docker.io/library/busybox@sha256:" + Hex)]
    [InlineData("busybox:1.36@sha256:" + Hex, "docker.io", "library/busybox", "1.36", Hex, "docker.io/library/busybox:1.36@sha256:" + Hex)]
    [InlineData("host:5000/a/b:tag@sha256:" + Hex, "host:5000", "a/b", "tag", Hex, "host:5000/a/b:tag@sha256:" + Hex)]
    [InlineData("a.b-c/d__e/e-f.g_h:T_a.g-1", "a.b-c", "d__e/e-f.g_h", "T_a.g-1", null, "a.b-c/d__e/e-f.g_h:T_a.g-1")]
    [InlineData("foo__bar/baz---qux", "docker.io", "foo__bar/baz---qux", "latest", null, "docker.io/foo__bar/baz---qux:latest")]
    [InlineData("localhost", "docker.io", "library/localhost", "latest", null, "docker.io/library/localhost:latest")]
    [InlineData("localhost:5000", "docker.io", "library/localhost", "5000", null, "docker.io/library/localhost:5000")]
    public void Parses_and_normalises(string input, string registry, string repository, string? tag, string? digestHex, string canonical)
    {
        var r = ImageReference.Parse(input);
        Assert.Equal(registry, r.Registry);
        Assert.Equal(repository, r.Repository);
        Assert.Equal(tag, r.Tag);
        Assert.Equal(digestHex is null ? null : new Digest(digestHex), r.Digest);
        Assert.Equal(canonical, r.ToString());
        Assert.Equal($"{registry}/{repository}", r.Name);
        // The canonical form parses back to itself.
        Assert.Equal(r, ImageReference.Parse(canonical));
    }

    [Theory]
    [InlineData("busybox", "quay.io", "quay.io/busybox:latest")]
    [InlineData("user/repo", "quay.io", "quay.io/user/repo:latest")]
    [InlineData("docker.io/busybox", "quay.io", "docker.io/library/busybox:latest")]
    [InlineData("busybox", "docker.io", "docker.io/library/busybox:latest")]
    public void Unqualified_names_use_the_search_registry(string input, string search, string canonical) =>
        Assert.Equal(canonical, ImageReference.Parse(input, search).ToString());

    [Fact]
    public void Digest_wins_for_pulling_and_tag_is_kept()
    {
        var r = ImageReference.Parse("busybox:1.36@sha256:" + Hex);
        Assert.Equal("sha256:" + Hex, r.ManifestReference);
        Assert.Equal("1.36", r.Tag);
        Assert.Equal("latest", ImageReference.Parse("busybox").ManifestReference);
    }

    [Fact]
    public void Docker_hub_requests_go_to_registry_1()
    {
        Assert.Equal("registry-1.docker.io", ImageReference.Parse("busybox").ApiHost);
        Assert.Equal("docker.io", ImageReference.Parse("busybox").Registry);
        Assert.Equal("quay.io", ImageReference.Parse("quay.io/x").ApiHost);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData(":tag", "repository name is empty")]
    [InlineData("@sha256:" + Hex, "repository name is empty")]
    [InlineData("Busybox", "must be lowercase")]
    [InlineData("user/Repo", "must be lowercase")]
    [InlineData("Foo/bar", "must be lowercase")]
    [InlineData("docker.io/Library/busybox", "must be lowercase")]
    [InlineData("busy box", "whitespace")]
    [InlineData(" busybox", "whitespace")]
    [InlineData("busybox\n", "whitespace")]
    [InlineData("../etc/passwd", "'..'")]
    [InlineData("a/../b", "'..'")]
    [InlineData("a//b", "empty component")]
    [InlineData("busybox/", "empty component")]
    [InlineData("/busybox", "empty component")]
    [InlineData("a..b", "'a..b'")]
    [InlineData("-busybox", "'-busybox'")]
    [InlineData("busybox-", "'busybox-'")]
    [InlineData("busybox:", "tag after ':' is empty")]
    [InlineData("busybox:-tag", "tag '-tag' is invalid")]
    [InlineData("busybox:.tag", "tag '.tag' is invalid")]
    [InlineData("busybox:ta/g", "registry host 'busybox:ta'")]
    [InlineData("busybox@", "digest after '@' is empty")]
    [InlineData("busybox@sha256:abc", "64 lowercase hex")]
    [InlineData("busybox@sha256:" + Hex + "0", "64 lowercase hex")]
    [InlineData("busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "64 lowercase hex")]
    [InlineData("busybox@sha512:" + Hex + Hex, "only sha256")]
    [InlineData("busybox@md5:d41d8cd98f00b204e9800998ecf8427e", "only sha256")]
    [InlineData("busybox@" + Hex, "64 lowercase hex")]
    [InlineData("busybox@sha256:" + Hex + "@sha256:" + Hex, "64 lowercase hex")]
    [InlineData("host:99999/repo", "registry host 'host:99999'")]
    [InlineData("host:/repo", "registry host 'host:'")]
    [InlineData("-host.com/repo", "registry host '-host.com'")]
    [InlineData("ho_st.com/repo", "registry host 'ho_st.com'")]
    [InlineData("[::1/repo", "registry host")]
    [InlineData(Hex, "image ID")]
    [InlineData("busybox\u00e9", "is invalid")]
    public void Rejects_invalid_references(string input, string expectedProblem)
    {
        var e = Assert.Throws<InvalidImageReferenceException>(() => ImageReference.Parse(input));
        Assert.Contains($"'{input}'", e.Message);
        Assert.Contains(expectedProblem, e.Message);
        Assert.False(ImageReference.TryParse(input, "docker.io", out _));
    }

    [Fact]
    public void Tags_are_at_most_128_characters()
    {
        Assert.Equal(new string('a', 128), ImageReference.Parse("busybox:" + new string('a', 128)).Tag);
        var e = Assert.Throws<InvalidImageReferenceException>(() => ImageReference.Parse("busybox:" + new string('a', 129)));
        Assert.Contains("is invalid", e.Message);
    }

    [Fact]
    public void Rejects_names_over_255_characters()
    {
        var name = "quay.io/" + string.Join('/', Enumerable.Repeat(new string('a', 60), 5));
        var e = Assert.Throws<InvalidImageReferenceException>(() => ImageReference.Parse(name));
        Assert.Contains("longer than 255", e.Message);
    }

    [Fact]
    public void TryParse_handles_null_and_valid()
    {
        Assert.False(ImageReference.TryParse(null, "docker.io", out _));
        Assert.True(ImageReference.TryParse("busybox", "docker.io", out var r));
        Assert.Equal("docker.io/library/busybox:latest", r.ToString());
    }
}
