using System.Text.Json.Nodes;
using CriSharp.Mechanism.Processes;
using CriSharp.Model;

namespace CriSharp.Network.Tests;

public sealed class CniConfListTests
{
    internal static PodSandbox Pod(params PortMappingSpec[] ports) => new()
    {
        Id = "abc123",
        RuntimeHandler = "runc",
        Dir = "/tmp/nowhere",
        NetNsPath = "/run/crisharp/pods/abc123/ns/net",
        Spec = new SandboxSpec
        {
            Name = "web",
            Namespace = "default",
            Uid = "uid-1",
            PortMappings = [.. ports],
            DnsServers = ["10.0.0.10"],
            DnsSearches = ["svc.cluster.local"],
            Annotations = new() { ["b"] = "2", ["a"] = "1" },
        },
    };

    [Fact]
    public void Cni_args_carry_the_kubernetes_pod_identity()
    {
        Assert.Equal("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=uid-1",
            CniConfList.CniArgs(Pod()));
    }

    [Fact]
    public void Environment_sets_every_cni_variable()
    {
        var env = CniPluginRunner.Environment(new CniInvocation("ADD", "abc123", "/ns/net", "eth0", "IgnoreUnknown=1", ["/a", "/b"]));
        Assert.Equal("ADD", env["CNI_COMMAND"]);
        Assert.Equal("abc123", env["CNI_CONTAINERID"]);
        Assert.Equal("/ns/net", env["CNI_NETNS"]);
        Assert.Equal("eth0", env["CNI_IFNAME"]);
        Assert.Equal("IgnoreUnknown=1", env["CNI_ARGS"]);
        Assert.Equal("/a:/b", env["CNI_PATH"]);
        var status = CniPluginRunner.Environment(CniInvocation.ForNetwork("STATUS", ["/a"]));
        Assert.Equal("", status["CNI_CONTAINERID"]);
        Assert.Equal("STATUS", status["CNI_COMMAND"]);
    }

    [Fact]
    public void Capability_args_hold_host_ports_dns_and_annotations()
    {
        var args = CniConfList.CapabilityArgs(Pod(
            new PortMappingSpec("TCP", 8080, 30080, "127.0.0.1"),
            new PortMappingSpec("udp", 53, 0, ""),      // no host port: not published
            new PortMappingSpec("sctp", 9, 30009, "")));
        var ports = args["portMappings"]!.AsArray();
        Assert.Equal(2, ports.Count);
        Assert.Equal("""{"hostPort":30080,"containerPort":8080,"protocol":"tcp","hostIP":"127.0.0.1"}""", ports[0]!.ToJsonString());
        Assert.Equal("""{"hostPort":30009,"containerPort":9,"protocol":"sctp"}""", ports[1]!.ToJsonString());
        Assert.Equal("10.0.0.10", args["dns"]!["servers"]![0]!.GetValue<string>());
        Assert.Equal("""{"a":"1","b":"2"}""", args["io.kubernetes.cri.pod-annotations"]!.ToJsonString());
    }

    [Fact]
    public void Plugin_config_injects_name_version_prev_result_and_only_declared_capabilities()
    {
        var caps = CniConfList.CapabilityArgs(Pod(new PortMappingSpec("tcp", 80, 8080, "")));
        var prev = JsonNode.Parse("""{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24"}]}""")!.AsObject();

        var portmap = JsonNode.Parse("""{"type":"portmap","capabilities":{"portMappings":true,"dns":false},"snat":true}""")!.AsObject();
        var conf = CniConfList.PluginConfig(portmap, "net", "1.0.0", prev, caps);
        Assert.Equal("net", conf["name"]!.GetValue<string>());
        Assert.Equal("1.0.0", conf["cniVersion"]!.GetValue<string>());
        Assert.Equal("10.0.0.2/24", conf["prevResult"]!["ips"]![0]!["address"]!.GetValue<string>());
        Assert.True(conf["snat"]!.GetValue<bool>());
        var rc = conf["runtimeConfig"]!.AsObject();
        Assert.Equal(["portMappings"], rc.Select(p => p.Key));
        Assert.Equal(8080, rc["portMappings"]![0]!["hostPort"]!.GetValue<int>());
        Assert.False(portmap.ContainsKey("name"), "the list's plugin entry is not modified");

        var bridge = JsonNode.Parse("""{"type":"bridge","bridge":"br0","prevResult":{"stale":true}}""")!.AsObject();
        var first = CniConfList.PluginConfig(bridge, "net", "0.4.0", null, caps);
        Assert.False(first.ContainsKey("prevResult"));
        Assert.False(first.ContainsKey("runtimeConfig"));
        Assert.Equal("br0", first["bridge"]!.GetValue<string>());
    }

    [Fact]
    public void A_single_plugin_conf_is_lifted_into_a_list()
    {
        var json = """{"cniVersion":"0.3.1","name":"single","type":"bridge","bridge":"b0"}""";
        var list = CniConfList.Lift(CniConfigLoader.Parse("/x/10-single.conf", json));
        Assert.Equal("single", list["name"]!.GetValue<string>());
        Assert.Equal("0.3.1", list["cniVersion"]!.GetValue<string>());
        var plugin = Assert.Single(CniConfList.Plugins(list));
        Assert.Equal("bridge", CniConfList.TypeOf(plugin));

        var conflist = CniConfList.Lift(CniConfigLoader.Parse("/x/10-l.conflist", """{"cniVersion":"1.0.0","name":"l","plugins":[{"type":"a"},{"type":"b"}]}"""));
        Assert.Equal(["a", "b"], CniConfList.Plugins(conflist).Select(CniConfList.TypeOf));
    }

    [Theory]
    [InlineData("1.0.0", "0.4.0", true)]
    [InlineData("0.4.0", "0.4.0", true)]
    [InlineData("0.3.1", "0.4.0", false)]
    [InlineData("1.1.0", "1.1.0", true)]
    [InlineData("1.0.0", "1.1.0", false)]
    public void Version_comparison(string version, string min, bool expected) => Assert.Equal(expected, CniConfList.AtLeast(version, min));

    [Fact]
    public void Plugin_error_json_becomes_the_message()
    {
        var e = CniPluginRunner.Failure("bridge", "ADD", new ProcessResult(1, """{"cniVersion":"1.0.0","code":7,"msg":"bad config","details":"bridge name too long"}""", "warn"));
        Assert.Equal(7, e.Code);
        Assert.Contains("CNI plugin bridge failed (ADD): bad config: bridge name too long (CNI error code 7)", e.Message);
        var raw = CniPluginRunner.Failure("x", "DEL", new ProcessResult(2, "", "panic: oops\n"));
        Assert.Null(raw.Code);
        Assert.Contains("exit code 2: panic: oops", raw.Message);
    }
}
