using System.Text.Json.Nodes;
using CriSharp.Mechanism.Cdi;

namespace CriSharp.Runtime.Tests.Mechanism.Cdi;

public sealed class CdiSpecParsingTests
{
    const string FullJson = """
        {
          "cdiVersion": "1.1.0",
          "kind": "vendor.com/gpu",
          "annotations": {"a": "b"},
          "containerEdits": {"env": ["COMMON=1"], "additionalGids": [44]},
          "devices": [{
            "name": "gpu0",
            "annotations": {"model": "x"},
            "containerEdits": {
              "env": ["GPU=0"],
              "deviceNodes": [{"path": "/dev/gpu0", "hostPath": "/dev/nvidia0", "type": "c", "major": 195, "minor": 0,
                               "fileMode": 438, "permissions": "rw", "uid": 1, "gid": 2}],
              "hooks": [{"hookName": "createContainer", "path": "/usr/bin/hook", "args": ["hook", "x"], "env": ["K=V"], "timeout": 5}],
              "mounts": [{"hostPath": "/usr/lib/libgpu.so", "containerPath": "/usr/lib/libgpu.so", "options": ["ro", "nosuid"], "type": "bind"}],
              "netDevices": [{"hostInterfaceName": "eth9", "name": "net0"}],
              "intelRdt": {"closID": "c1", "l3CacheSchema": "L3:0=f", "memBwSchema": "MB:0=50", "schemata": ["L2:0=3"], "enableMonitoring": true}
            }
          }]
        }
        """;

    [Fact]
    public void Json_every_key_is_read()
    {
        var file = CdiSpecFile.Parse("/etc/cdi/gpu.json", FullJson);
        var spec = file.Spec;
        Assert.Equal("1.1.0", spec.Version);
        Assert.Equal("vendor.com/gpu", file.Kind);
        Assert.Equal("b", spec.Annotations!["a"]);
        Assert.Equal(["COMMON=1"], spec.ContainerEdits!.Env!);
        Assert.Equal([44u], spec.ContainerEdits.AdditionalGids!);
        var device = file.Devices["gpu0"];
        Assert.Equal("x", device.Annotations!["model"]);
        var edits = device.ContainerEdits!;
        var node = Assert.Single(edits.DeviceNodes!);
        Assert.Equal(("/dev/gpu0", "/dev/nvidia0", "c", 195L, 0L, 438u, "rw", 1u, 2u),
            (node.Path, node.HostPath, node.Type, node.Major, node.Minor, node.FileMode, node.Permissions, node.Uid, node.Gid));
        var hook = Assert.Single(edits.Hooks!);
        Assert.Equal(("createContainer", "/usr/bin/hook", 5), (hook.HookName, hook.Path, hook.Timeout));
        Assert.Equal(["hook", "x"], hook.Args!);
        Assert.Equal(["K=V"], hook.Env!);
        var mount = Assert.Single(edits.Mounts!);
        Assert.Equal(("/usr/lib/libgpu.so", "/usr/lib/libgpu.so", "bind"), (mount.HostPath, mount.ContainerPath, mount.Type));
        Assert.Equal(["ro", "nosuid"], mount.Options!);
        var net = Assert.Single(edits.NetDevices!);
        Assert.Equal(("eth9", "net0"), (net.HostInterfaceName, net.Name));
        var rdt = edits.IntelRdt!;
        Assert.Equal(("c1", "L3:0=f", "MB:0=50", true), (rdt.ClosId, rdt.L3CacheSchema, rdt.MemBwSchema, rdt.EnableMonitoring));
        Assert.Equal(["L2:0=3"], rdt.Schemata!);
    }

    [Fact]
    public void Yaml_spec_with_octal_file_mode_and_unquoted_numbers()
    {
        const string yaml = """
            cdiVersion: "0.5.0"
            kind: vendor.com/gpu
            devices:
              - name: 0
                containerEdits:
                  env: [ "A=1" ]
                  deviceNodes:
                    - path: /dev/gpu0
                      type: c
                      major: 0xC3
                      minor: 0o7
                      fileMode: 0666
                      uid: 1_000
                      gid: ~
            """;
        var file = CdiSpecFile.Parse("/etc/cdi/gpu.yaml", yaml);
        var node = Assert.Single(file.Devices["0"].ContainerEdits!.DeviceNodes!);
        Assert.Equal((195L, 7L, 438u, 1000u), (node.Major, node.Minor, node.FileMode, node.Uid));
        Assert.Null(node.Gid);
    }

    [Theory]
    [InlineData("fileMode: \"0666\"")]
    [InlineData("major: '12'")]
    [InlineData("uid: \"1\"")]
    public void Yaml_quoted_number_stays_a_string_and_fails_cleanly(string field)
    {
        var yaml = $"""
            cdiVersion: 0.3.0
            kind: vendor.com/gpu
            devices:
              - name: gpu0
                containerEdits:
                  deviceNodes:
                    - path: /dev/gpu0
                      {field}
            """;
        var e = Assert.Throws<CdiSpecException>(() => CdiSpecFile.Parse("/etc/cdi/gpu.yaml", yaml));
        Assert.Equal("/etc/cdi/gpu.yaml", e.File);
        Assert.Contains("/etc/cdi/gpu.yaml", e.Message);
    }

    [Theory]
    [InlineData("", null)]
    [InlineData("~", null)]
    [InlineData("null", null)]
    [InlineData("true", true)]
    [InlineData("False", false)]
    [InlineData("TRUE", true)]
    [InlineData("yes", "yes")]
    [InlineData("42", 42L)]
    [InlineData("-7", -7L)]
    [InlineData("+3", 3L)]
    [InlineData("0x1F", 31L)]
    [InlineData("0o17", 15L)]
    [InlineData("0666", 438L)]
    [InlineData("0b101", 5L)]
    [InlineData("1_000", 1000L)]
    [InlineData("1.5", 1.5)]
    [InlineData("1e3", 1000.0)]
    [InlineData("1.0.0", "1.0.0")]
    [InlineData("0x", "0x")]
    [InlineData("/dev/null", "/dev/null")]
    [InlineData("18446744073709551615", ulong.MaxValue)]
    public void Yaml_plain_scalars_are_typed_as_yaml_1_1(string text, object? expected)
    {
        var node = YamlScalars.Resolve(text);
        switch (expected)
        {
            case null: Assert.Null(node); break;
            case bool b: Assert.Equal(b, node!.GetValue<bool>()); break;
            case long l: Assert.Equal(l, node!.GetValue<long>()); break;
            case ulong u: Assert.Equal(u, node!.GetValue<ulong>()); break;
            case double d: Assert.Equal(d, node!.GetValue<double>()); break;
            case string s: Assert.Equal(s, node!.GetValue<string>()); break;
        }
    }

    [Fact]
    public void Yaml_quoted_scalars_are_strings()
    {
        var node = YamlToJson.Convert("a: \"42\"\nb: 'true'\nc: ~\nd: !!str 7\ne: |\n  12\n")!.AsObject();
        Assert.Equal("42", node["a"]!.GetValue<string>());
        Assert.Equal("true", node["b"]!.GetValue<string>());
        Assert.Null(node["c"]);
        Assert.True(node.ContainsKey("c"));
        Assert.Equal("7", node["d"]!.GetValue<string>());
        Assert.Equal("12\n", node["e"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("a: &x 1\nb: *x\n", "anchors")]
    [InlineData("a: 1\n---\nb: 2\n", "2 YAML documents")]
    [InlineData("a: 1\na: 2\n", "uplicate")]
    [InlineData("a: [1, 2\n", "invalid YAML")]
    [InlineData("a: !custom 1\n", "unsupported YAML tag")]
    [InlineData("a: .inf\n", "no JSON form")]
    public void Yaml_constructs_a_spec_has_no_use_for_are_refused(string yaml, string expected)
    {
        var e = Assert.Throws<FormatException>(() => YamlToJson.Convert(yaml));
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("gpu.json", """{"cdiVersion": "0.3.0", "kind": "vendor.com/gpu", "devices": [{"name": "a"}], "extra": 1}""", "extra")]
    [InlineData("gpu.json", """{"cdiVersion": "0.3.0", "kind": "vendor.com/gpu", "devices": [{"name": "a", "containerEdits": {"envs": []}}]}""", "envs")]
    [InlineData("gpu.yaml", "cdiVersion: 0.3.0\nkind: vendor.com/gpu\ndevices:\n  - name: a\n    containerEdits:\n      deviceNodes:\n        - path: /dev/a\n          mode: 1\n", "mode")]
    public void Unknown_fields_are_rejected(string name, string text, string field)
    {
        var e = Assert.Throws<CdiSpecException>(() => CdiSpecFile.Parse("/etc/cdi/" + name, text));
        Assert.Contains(field, e.Reason);
    }

    [Theory]
    [InlineData("gpu.json", "{ not json")]
    [InlineData("gpu.json", "")]
    [InlineData("gpu.json", "null")]
    [InlineData("gpu.json", """{"cdiVersion": "0.3.0", "kind": "vendor.com/gpu", "devices": [{"name": "a"}], "kind": "x.com/y"}""")]
    [InlineData("gpu.yaml", "")]
    [InlineData("gpu.yaml", "- a\n- b\n")]
    [InlineData("gpu.yaml", "cdiVersion: [1\n")]
    public void Unparseable_files_are_named(string name, string text)
    {
        var e = Assert.Throws<CdiSpecException>(() => CdiSpecFile.Parse("/etc/cdi/" + name, text));
        Assert.Equal("/etc/cdi/" + name, e.File);
    }

    [Fact]
    public void Load_reads_the_file_from_disk()
    {
        var path = Path.Combine(Path.GetTempPath(), $"crisharp-cdi-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, "cdiVersion: 0.3.0\nkind: vendor.com/gpu\ndevices: [{name: a}]\n");
        try
        {
            Assert.Equal(path, CdiSpecFile.Load(path).Path);
            Assert.True(CdiSpecFile.Load(path).Devices.ContainsKey("a"));
        }
        finally
        {
            File.Delete(path);
        }
        Assert.Contains("cannot read", Assert.Throws<CdiSpecException>(() => CdiSpecFile.Load(path)).Reason);
    }
}
