using System.Text;
using CriSharp.Mechanism.Cdi;
using CriSharp.Mechanism.Oci;
using CriSharp.Model;
using CriSharp.Runtime.Spec;
using CriSharp.Runtime.Tests.Linux;

namespace CriSharp.Runtime.Tests.Mechanism.Cdi;

public sealed class CdiEditorTests
{
    const string SpecFile = "/etc/cdi/test.json";

    static CdiResolution Resolution(params CdiContainerEdits[] edits) =>
        new(["vendor.com/gpu=a"], [.. edits.Select((e, i) => new CdiEditSet("vendor.com/gpu=a", SpecFile, e, SpecLevel: i == 0))]);

    /// <summary>Edits as a spec file would hold them (so they go through the loader).</summary>
    static CdiContainerEdits Edits(string json) =>
        CdiSpecFile.Parse(SpecFile, $$"""{"cdiVersion": "1.1.0", "kind": "vendor.com/gpu", "devices": [{"name": "a", "containerEdits": {{json}}}]}""")
            .Devices["a"].ContainerEdits!;

    static OciSpec BaseSpec() => new()
    {
        Process = new OciProcess { Args = ["sh"], Env = ["PATH=/bin", "KEEP=1", "GPU=old", "GPU=dup"], User = new OciUser { Uid = 1000, Gid = 1000, AdditionalGids = [44] } },
        Mounts =
        [
            new OciMount { Destination = "/proc", Type = "proc", Source = "proc" },
            new OciMount { Destination = "/dev", Type = "tmpfs", Source = "tmpfs" },
            new OciMount { Destination = "/usr/lib/x", Type = "bind", Source = "/old", Options = ["rbind", "ro"] },
        ],
        Linux = new OciLinux
        {
            Devices = [new OciDevice { Type = "c", Path = "/dev/null", Major = 1, Minor = 3 }],
            Resources = new OciResources { Devices = [new OciDeviceRule { Allow = false, Access = "rwm" }] },
        },
    };

    [Fact]
    public void Env_replaces_the_same_name_or_appends()
    {
        var spec = BaseSpec();
        CdiEditor.Apply(spec, Resolution(Edits("""{"env": ["GPU=0", "NEW=a=b"]}"""), Edits("""{"env": ["NEW=c"]}""")), privileged: false);
        Assert.Equal(["PATH=/bin", "KEEP=1", "GPU=0", "NEW=c"], spec.Process!.Env!);
    }

    [Fact]
    public void Device_node_from_a_real_stat_of_dev_null()
    {
        var spec = BaseSpec();
        CdiEditor.Apply(spec, Resolution(Edits("""{"deviceNodes": [{"path": "/dev/cdi-null", "hostPath": "/dev/null"}]}""")), privileged: false);
        var device = Assert.Single(spec.Linux!.Devices!, d => d.Path == "/dev/cdi-null");
        Assert.Equal(("c", 1L, 3L, 438u), (device.Type, device.Major, device.Minor, device.FileMode));
        Assert.Null(device.Uid);
        Assert.Null(device.Gid);
        var rule = spec.Linux.Resources!.Devices![^1];
        Assert.Equal((true, "c", 1L, 3L, "rwm"), (rule.Allow, rule.Type, rule.Major, rule.Minor, rule.Access));
        Assert.Equal(2, spec.Linux.Resources.Devices.Count);
    }

    [Fact]
    public void Device_node_replaces_the_same_path_and_keeps_what_is_given()
    {
        var spec = BaseSpec();
        CdiEditor.Apply(spec, Resolution(Edits("""
            {"deviceNodes": [{"path": "/dev/null", "type": "c", "major": 10, "minor": 200, "fileMode": 384, "permissions": "rw", "uid": 5, "gid": 6}]}
            """)), privileged: false);
        var device = Assert.Single(spec.Linux!.Devices!);
        Assert.Equal(("c", 10L, 200L, 384u, 5u, 6u), (device.Type, device.Major, device.Minor, device.FileMode, device.Uid, device.Gid));
        var rule = spec.Linux.Resources!.Devices![^1];
        Assert.Equal(("c", 10L, 200L, "rw"), (rule.Type, rule.Major, rule.Minor, rule.Access));
    }

    [Fact]
    public void Device_node_through_a_symlink_takes_the_target()
    {
        using var temp = new TempDir();
        var link = Path.Combine(temp.Path, "by-id");
        File.CreateSymbolicLink(link, "/dev/zero");
        var spec = BaseSpec();
        CdiEditor.Apply(spec, Resolution(Edits($$"""{"deviceNodes": [{"path": "/dev/z", "hostPath": "{{link}}", "fileMode": 256}]}""")), privileged: false);
        var device = Assert.Single(spec.Linux!.Devices!, d => d.Path == "/dev/z");
        Assert.Equal(("c", 1L, 5L, 256u), (device.Type, device.Major, device.Minor, device.FileMode));
    }

    [Fact]
    public void Fifo_nodes_get_no_cgroup_rule_and_none_permission_gets_no_rule()
    {
        using var temp = new TempDir();
        var fifo = Path.Combine(temp.Path, "fifo");
        CriSharp.Linux.FileMetadata.Mknod(fifo, CriSharp.Linux.SpecialFileKind.Fifo, 0x1A4, 0, 0);
        var spec = BaseSpec();
        CdiEditor.Apply(spec, Resolution(Edits($$"""
            {"deviceNodes": [{"path": "/dev/fifo", "hostPath": "{{fifo}}"}, {"path": "/dev/cdi-null", "hostPath": "/dev/null", "permissions": "none"}]}
            """)), privileged: false);
        var device = Assert.Single(spec.Linux!.Devices!, d => d.Path == "/dev/fifo");
        Assert.Equal(("p", 0L, 0L, 0x1A4u), (device.Type, device.Major, device.Minor, device.FileMode));
        Assert.Contains(spec.Linux.Devices!, d => d.Path == "/dev/cdi-null");
        Assert.Single(spec.Linux.Resources!.Devices!);
    }

    [Theory]
    [InlineData("/nonexistent/cdi-node", "does not exist")]
    [InlineData("/etc/hostname", "not a device node")]
    public void Device_node_without_a_host_node_fails_naming_it(string hostPath, string expected)
    {
        var edits = Edits($$"""{"deviceNodes": [{"path": "/dev/x", "hostPath": "{{hostPath}}"}]}""");
        var e = Assert.Throws<WrongStateException>(() => CdiEditor.Apply(BaseSpec(), Resolution(edits), privileged: false));
        Assert.Contains(expected, e.Message);
        Assert.Contains("vendor.com/gpu=a", e.Message);
        Assert.Contains("/dev/x", e.Message);
        Assert.Contains(hostPath, e.Message);
        Assert.Contains(SpecFile, e.Message);
    }

    [Fact]
    public void Device_node_type_must_match_the_host_node()
    {
        var edits = Edits("""{"deviceNodes": [{"path": "/dev/x", "hostPath": "/dev/null", "type": "b"}]}""");
        Assert.Contains("does not match", Assert.Throws<WrongStateException>(() => CdiEditor.Apply(BaseSpec(), Resolution(edits), false)).Message);
    }

    [Fact]
    public void Privileged_adds_nodes_but_no_rules()
    {
        var spec = BaseSpec();
        CdiEditor.Apply(spec, Resolution(Edits("""{"deviceNodes": [{"path": "/dev/cdi-null", "hostPath": "/dev/null"}]}""")), privileged: true);
        Assert.Contains(spec.Linux!.Devices!, d => d.Path == "/dev/cdi-null");
        Assert.Single(spec.Linux.Resources!.Devices!);
    }

    [Fact]
    public void Mounts_replace_the_same_destination_and_sort_parents_first()
    {
        var spec = BaseSpec();
        CdiEditor.Apply(spec, Resolution(Edits("""
            {"mounts": [
              {"hostPath": "/usr", "containerPath": "/usr/lib/x/"},
              {"hostPath": "/etc", "containerPath": "/a/b/c/d", "options": ["ro"]},
              {"hostPath": "tmpfs", "containerPath": "/scratch", "type": "tmpfs", "options": ["size=1m"]},
              {"hostPath": "/tmp", "containerPath": "/b", "type": "bind", "options": ["bind", "ro"]},
              {"hostPath": "/var", "containerPath": "/c/./d/../e"}
            ]}
            """)), privileged: false);
        Assert.Equal(["/proc", "/dev", "/scratch", "/b", "/c/e", "/usr/lib/x", "/a/b/c/d"], spec.Mounts!.Select(m => m.Destination));
        OciMount At(string destination) => spec.Mounts!.Single(m => m.Destination == destination);
        Assert.Equal(("bind", "/usr"), (At("/usr/lib/x").Type, At("/usr/lib/x").Source));
        Assert.Equal(["rbind"], At("/usr/lib/x").Options!);
        Assert.Equal(["rbind", "ro"], At("/a/b/c/d").Options!);
        Assert.Equal(("tmpfs", "tmpfs"), (At("/scratch").Type, At("/scratch").Source));
        Assert.Equal(["size=1m"], At("/scratch").Options!);
        Assert.Equal(["bind", "ro"], At("/b").Options!);
        Assert.Equal("/var", At("/c/e").Source);
    }

    [Fact]
    public void A_bind_mount_whose_host_path_is_missing_is_refused_naming_the_device_and_the_spec()
    {
        var edits = Edits("""{"mounts": [{"hostPath": "/nonexistent/crisharp-cdi", "containerPath": "/x"}]}""");
        var e = Assert.Throws<WrongStateException>(() => CdiEditor.Apply(BaseSpec(), Resolution(edits), false));
        Assert.Contains("/nonexistent/crisharp-cdi", e.Message);
        Assert.Contains("vendor.com/gpu=a", e.Message);
        Assert.Contains("/etc/cdi/test.json", e.Message);
    }

    [Fact]
    public void Hooks_are_appended_to_their_lists()
    {
        var spec = BaseSpec();
        var edits = Edits("""
            {"hooks": [
              {"hookName": "createContainer", "path": "/bin/first", "args": ["first", "-v"], "env": ["A=1"], "timeout": 3},
              {"hookName": "createContainer", "path": "/bin/second"},
              {"hookName": "prestart", "path": "/bin/p"}, {"hookName": "createRuntime", "path": "/bin/cr"},
              {"hookName": "startContainer", "path": "/bin/sc"}, {"hookName": "poststart", "path": "/bin/ps"},
              {"hookName": "poststop", "path": "/bin/pp"}
            ]}
            """);
        CdiEditor.Apply(spec, Resolution(edits), privileged: false);
        var hooks = spec.Hooks!;
        Assert.Equal(["/bin/first", "/bin/second"], hooks.CreateContainer!.Select(h => h.Path));
        var first = hooks.CreateContainer![0];
        Assert.Equal(["first", "-v"], first.Args!);
        Assert.Equal(["A=1"], first.Env!);
        Assert.Equal(3, first.Timeout);
        Assert.Null(hooks.CreateContainer[1].Args);
        Assert.Equal(["/bin/p", "/bin/cr", "/bin/sc", "/bin/ps", "/bin/pp"],
            new[] { hooks.Prestart, hooks.CreateRuntime, hooks.StartContainer, hooks.Poststart, hooks.Poststop }.Select(l => Assert.Single(l!).Path));
        Assert.NotSame(edits.Hooks![0].Args, first.Args);
    }

    [Fact]
    public void Additional_gids_skip_zero_and_repeats()
    {
        var spec = BaseSpec();
        CdiEditor.Apply(spec, Resolution(Edits("""{"additionalGids": [0, 44, 45, 45]}"""), Edits("""{"additionalGids": [46, 45]}""")), privileged: false);
        Assert.Equal([44u, 45u, 46u], spec.Process!.User.AdditionalGids!);
    }

    [Fact]
    public void Edits_criSharp_does_not_apply_are_refused()
    {
        var edits = Edits("""{"netDevices": [{"hostInterfaceName": "eth1", "name": "n0"}]}""");
        var e = Assert.Throws<WrongStateException>(() => CdiEditor.Apply(BaseSpec(), Resolution(edits), privileged: false));
        Assert.Contains("netDevices", e.Message);
        Assert.Contains(SpecFile, e.Message);
    }

    [Fact]
    public void Edited_spec_serializes_hooks_and_omits_nulls()
    {
        var spec = BaseSpec();
        CdiEditor.Apply(spec, Resolution(Edits("""{"hooks": [{"hookName": "poststop", "path": "/bin/pp", "args": ["pp"]}]}""")), privileged: false);
        var json = Encoding.UTF8.GetString(spec.ToJson());
        Assert.Contains("\"hooks\": {", json);
        Assert.Contains("\"poststop\": [", json);
        Assert.Contains("\"path\": \"/bin/pp\"", json);
        Assert.DoesNotContain("\"prestart\"", json);
        Assert.DoesNotContain("\"timeout\"", json);
        Assert.DoesNotContain(": null", json);
        var back = OciSpec.FromJson(spec.ToJson());
        Assert.Equal(["pp"], Assert.Single(back.Hooks!.Poststop!).Args!);
    }
}
