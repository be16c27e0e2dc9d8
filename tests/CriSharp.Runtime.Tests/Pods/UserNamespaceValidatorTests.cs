using CriSharp.Model;
using CriSharp.Runtime.Pods;

namespace CriSharp.Runtime.Tests.Pods;

/// <summary>The user namespace requests a pod and its containers may make, and the field each refusal names.</summary>
public sealed class UserNamespaceValidatorTests
{
    static List<IdMapping> One(uint container, uint host, uint length) => [new(container, host, length)];

    static NamespaceModes Pod(UserNamespaceSpec? u, NamespaceMode network = NamespaceMode.Pod, NamespaceMode pid = NamespaceMode.Container) =>
        new(network, pid, NamespaceMode.Pod, "", u);

    [Fact]
    public void Node_and_a_single_root_mapping_are_accepted()
    {
        UserNamespaceValidator.ValidatePod(Pod(null));
        UserNamespaceValidator.ValidatePod(Pod(new UserNamespaceSpec()));
        UserNamespaceValidator.ValidatePod(Pod(new UserNamespaceSpec(NamespaceMode.Pod, One(0, 1000, 100000), One(0, 1000, 100000)), pid: NamespaceMode.Pod));
    }

    [Theory]
    [InlineData("container-mode", ".mode")]
    [InlineData("target-mode", ".mode")]
    [InlineData("two-mappings", ".uids")]
    [InlineData("no-gids", ".gids")]
    [InlineData("root-unmapped", ".uids[0].container_id")]
    [InlineData("node-root", ".gids[0].host_id")]
    [InlineData("empty-range", ".uids[0].length")]
    [InlineData("overflow", ".uids[0]")]
    [InlineData("node-with-mappings", ".uids")]
    [InlineData("host-network", "userns_options")]
    [InlineData("host-pid", "userns_options")]
    public void Refusals_name_the_field(string request, string fieldSuffix)
    {
        var ok = One(0, 1000, 65536);
        var modes = request switch
        {
            "container-mode" => Pod(new UserNamespaceSpec(NamespaceMode.Container)),
            "target-mode" => Pod(new UserNamespaceSpec(NamespaceMode.Target)),
            "two-mappings" => Pod(new UserNamespaceSpec(NamespaceMode.Pod, [.. ok, new(65536, 70000, 10)], ok)),
            "no-gids" => Pod(new UserNamespaceSpec(NamespaceMode.Pod, ok, [])),
            "root-unmapped" => Pod(new UserNamespaceSpec(NamespaceMode.Pod, One(1, 1000, 65536), ok)),
            "node-root" => Pod(new UserNamespaceSpec(NamespaceMode.Pod, ok, One(0, 0, 65536))),
            "empty-range" => Pod(new UserNamespaceSpec(NamespaceMode.Pod, One(0, 1000, 0), ok)),
            "overflow" => Pod(new UserNamespaceSpec(NamespaceMode.Pod, One(0, uint.MaxValue - 10, 65536), ok)),
            "node-with-mappings" => Pod(new UserNamespaceSpec(NamespaceMode.Node, ok, ok)),
            "host-network" => Pod(new UserNamespaceSpec(NamespaceMode.Pod, ok, ok), network: NamespaceMode.Node),
            "host-pid" => Pod(new UserNamespaceSpec(NamespaceMode.Pod, ok, ok), pid: NamespaceMode.Node),
            _ => throw new ArgumentException(request),
        };
        var e = Assert.Throws<InvalidRequestException>(() => UserNamespaceValidator.ValidatePod(modes));
        Assert.EndsWith(fieldSuffix, e.Field);
        Assert.StartsWith("config.linux.security_context.namespace_options.userns_options", e.Field);
    }

    [Fact]
    public void Containers_repeat_their_pods_user_namespace_or_leave_it_out()
    {
        var u = new UserNamespaceSpec(NamespaceMode.Pod, One(0, 1000, 65536), One(0, 1000, 65536));
        var sandbox = new PodSandbox
        {
            Id = "p1", RuntimeHandler = "runc", Dir = "/tmp/p1",
            Spec = new SandboxSpec { Name = "n", Uid = "u", Namespace = "ns", Security = new SandboxSecuritySpec { Namespaces = Pod(u) } },
        };
        UserNamespaceValidator.ValidateContainer(new NamespaceModes(), sandbox);
        UserNamespaceValidator.ValidateContainer(new NamespaceModes(User: u with { Uids = One(0, 1000, 65536) }), sandbox);
        Assert.Throws<InvalidRequestException>(() => UserNamespaceValidator.ValidateContainer(new NamespaceModes(User: new UserNamespaceSpec()), sandbox));
        Assert.Throws<InvalidRequestException>(() =>
            UserNamespaceValidator.ValidateContainer(new NamespaceModes(User: u with { Gids = One(0, 2000, 65536) }), sandbox));

        var half = new MountSpec("/m", "/tmp", UidMappings: One(0, 1000, 65536));
        var e = Assert.Throws<InvalidRequestException>(() => UserNamespaceValidator.ValidateMounts([new MountSpec("/a", "/tmp"), half], sandbox));
        Assert.Equal("config.mounts[1]", e.Field);
        var hostPod = sandbox with { Spec = sandbox.Spec with { Security = new SandboxSecuritySpec() } };
        e = Assert.Throws<InvalidRequestException>(() => UserNamespaceValidator.ValidateMounts([half with { GidMappings = One(0, 1000, 65536) }], hostPod));
        Assert.Equal("config.mounts[0].uid_mappings", e.Field);
    }
}
