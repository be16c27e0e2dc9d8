
namespace CriSharp.Network.Tests;

public sealed class CniConfigLoaderTests : IDisposable
{
    readonly string _conf = Directory.CreateTempSubdirectory("crisharp-cni-conf-").FullName;
    readonly string _bin = Directory.CreateTempSubdirectory("crisharp-cni-bin-").FullName;

    public void Dispose()
    {
        Directory.Delete(_conf, true);
        Directory.Delete(_bin, true);
    }

    void Plugin(string name) => File.WriteAllText(Path.Combine(_bin, name), "#!/bin/sh\n");

    const string Bridge = """{"cniVersion":"1.0.0","name":"net-b","plugins":[{"type":"bridge"},{"type":"portmap"}]}""";

    [Fact]
    public void Empty_dir_names_the_dir()
    {
        Assert.Null(CniConfigLoader.Find(_conf, [_bin], "", out var problem));
        Assert.Contains("no CNI configuration file", problem);
        Assert.Contains(_conf, problem);
    }

    [Fact]
    public void Picks_the_lexically_first_valid_config()
    {
        Plugin("bridge"); Plugin("portmap"); Plugin("loopback");
        File.WriteAllText(Path.Combine(_conf, "20-b.conflist"), Bridge);
        File.WriteAllText(Path.Combine(_conf, "10-a.conf"), """{"cniVersion":"0.3.1","name":"net-a","type":"loopback"}""");
        File.WriteAllText(Path.Combine(_conf, "05-broken.conflist"), "{not json");
        var n = CniConfigLoader.Find(_conf, [_bin], "", out _);
        Assert.Equal("net-a", n!.Name);
        Assert.Equal(["loopback"], n.PluginTypes);
        Assert.Equal("net-b", CniConfigLoader.Find(_conf, [_bin], "net-b", out _)!.Name);
    }

    [Fact]
    public void Missing_plugin_binary_is_reported()
    {
        Plugin("bridge");
        File.WriteAllText(Path.Combine(_conf, "10.conflist"), Bridge);
        Assert.Null(CniConfigLoader.Find(_conf, [_bin], "", out var problem));
        Assert.Contains("portmap", problem);
    }

    [Theory]
    [InlineData("""{"cniVersion":"9.9.9","name":"x","plugins":[{"type":"bridge"}]}""", "cniVersion")]
    [InlineData("""{"cniVersion":"1.0.0","plugins":[{"type":"bridge"}]}""", "name")]
    [InlineData("""{"cniVersion":"1.0.0","name":"x","plugins":[]}""", "plugins")]
    [InlineData("""{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"../../bin/sh"}]}""", "plain binary")]
    public void Invalid_configs_are_rejected_with_the_reason(string json, string reason)
    {
        var e = Assert.ThrowsAny<Exception>(() => CniConfigLoader.Parse("/x/10.conflist", json));
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void Real_debian_plugins_satisfy_a_bridge_conflist()
    {
        // The real plugin directory from containernetworking-plugins.
        Assert.True(File.Exists("/usr/lib/cni/bridge"), "containernetworking-plugins is not installed: run hack/install-deps.sh");
        File.WriteAllText(Path.Combine(_conf, "10.conflist"), Bridge);
        Assert.NotNull(CniConfigLoader.Find(_conf, ["/usr/lib/cni"], "", out _));
    }

    [Fact]
    public void Pod_cidr_accepts_dual_stack_and_rejects_garbage()
    {
        var s = new PodCidrState();
        s.Update("10.244.0.0/24,fd00::/64");
        Assert.Equal(["10.244.0.0/24", "fd00::/64"], s.Cidrs);
        Assert.Throws<FormatException>(() => s.Update("10.0.0.0/99"));
        s.Update("");
        Assert.Equal(2, s.Cidrs.Count);
    }
}
