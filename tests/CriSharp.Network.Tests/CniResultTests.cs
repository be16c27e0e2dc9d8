
namespace CriSharp.Network.Tests;

public sealed class CniResultTests
{
    [Fact]
    public void V1_result_picks_the_sandbox_interface_ipv4_first()
    {
        var r = CniResult.Parse("""
            {"cniVersion":"1.0.0",
             "interfaces":[{"name":"cni0","mac":"aa:bb:cc:dd:ee:01"},{"name":"veth1234","mac":"aa:bb:cc:dd:ee:02"},
                           {"name":"eth0","mac":"aa:bb:cc:dd:ee:03","sandbox":"/run/netns/x"}],
             "ips":[{"address":"fd00::5/64","gateway":"fd00::1","interface":2},
                    {"address":"10.1.0.5/16","gateway":"10.1.0.1","interface":2},
                    {"address":"10.2.0.1/16","interface":0}],
             "routes":[{"dst":"0.0.0.0/0"}],"dns":{}}
            """);
        Assert.Equal("1.0.0", r.CniVersion);
        Assert.Equal(3, r.Interfaces.Count);
        Assert.Equal("/run/netns/x", r.Interfaces[2].Sandbox);
        Assert.Equal("10.1.0.1", r.Ips[1].Gateway);
        Assert.Equal(["10.1.0.5", "fd00::5"], r.PodIps("eth0"));
    }

    [Fact]
    public void V031_result_with_version_fields_parses()
    {
        var r = CniResult.Parse("""
            {"cniVersion":"0.3.1","interfaces":[{"name":"eth0","sandbox":"/proc/1/ns/net"}],
             "ips":[{"version":"4","address":"10.22.0.9/24","gateway":"10.22.0.1","interface":0}]}
            """);
        Assert.Equal(["10.22.0.9"], r.PodIps("eth0"));
    }

    [Fact]
    public void V040_ips_without_an_interface_index_count()
    {
        var r = CniResult.Parse("""{"cniVersion":"0.4.0","ips":[{"address":"10.3.0.7/24"},{"address":"2001:db8::7/64"}]}""");
        Assert.Null(r.Ips[0].Interface);
        Assert.Equal(["10.3.0.7", "2001:db8::7"], r.PodIps("eth0"));
    }

    [Fact]
    public void V020_ip4_and_ip6_parse()
    {
        var r = CniResult.Parse("""{"cniVersion":"0.2.0","ip6":{"ip":"fd01::2/64"},"ip4":{"ip":"10.4.0.2/24","gateway":"10.4.0.1"}}""");
        Assert.Equal(["10.4.0.2", "fd01::2"], r.PodIps("eth0"));
        Assert.Equal("10.4.0.1", r.Ips.Single(i => i.Address.StartsWith("10.")).Gateway);
    }

    [Fact]
    public void Loopback_plugin_result_gives_the_pod_no_address()
    {
        var r = CniResult.Parse("""
            {"cniVersion":"1.0.0","interfaces":[{"name":"lo","mac":"00:00:00:00:00:00","sandbox":"/x"}],
             "ips":[{"interface":0,"address":"127.0.0.1/8"},{"interface":0,"address":"::1/128"}],"dns":{}}
            """);
        Assert.Empty(r.PodIps("eth0"));
    }

    [Fact]
    public void An_interface_index_out_of_range_is_not_the_pod_interface()
    {
        var r = CniResult.Parse("""{"cniVersion":"1.0.0","interfaces":[],"ips":[{"interface":3,"address":"10.0.0.3/24"}]}""");
        Assert.Empty(r.PodIps("eth0"));
    }

    [Theory]
    [InlineData("garbage", "not JSON")]
    [InlineData("", "not JSON")]
    [InlineData("[1,2]", "not a JSON object")]
    [InlineData("""{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.300/24"}]}""", "CIDR")]
    [InlineData("""{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.3"}]}""", "CIDR")]
    [InlineData("""{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.3/24","gateway":"nope"}]}""", "gateway")]
    [InlineData("""{"cniVersion":"1.0.0","ips":["10.0.0.3/24"]}""", "objects")]
    public void Invalid_results_are_refused_with_the_reason(string json, string reason)
    {
        var e = Assert.Throws<FormatException>(() => CniResult.Parse(json));
        Assert.Contains(reason, e.Message);
    }
}
