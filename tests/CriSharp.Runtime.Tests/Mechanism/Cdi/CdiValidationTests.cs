using CriSharp.Mechanism.Cdi;

namespace CriSharp.Runtime.Tests.Mechanism.Cdi;

public sealed class CdiValidationTests
{
    /// <summary>A JSON spec with one device "dev" whose containerEdits are <paramref name="edits"/>.</summary>
    static string Spec(string edits = "{}", string version = "1.1.0", string kind = "vendor.com/gpu", string name = "dev", string extra = "") =>
        $$"""{"cdiVersion": "{{version}}", "kind": "{{kind}}", {{extra}} "devices": [{"name": "{{name}}", "containerEdits": {{edits}}}]}""";

    static string Reason(string json) =>
        Assert.Throws<CdiSpecException>(() => CdiSpecFile.Parse("/etc/cdi/test.json", json)).Reason;

    static void Valid(string json) => Assert.NotNull(CdiSpecFile.Parse("/etc/cdi/test.json", json));

    [Theory]
    [InlineData("0.3.0")]
    [InlineData("0.4.0")]
    [InlineData("0.8.0")]
    [InlineData("1.0.0")]
    [InlineData("1.1.0")]
    [InlineData("v0.6.0")]
    [InlineData("v1.1.0")]
    public void Supported_versions_load(string version) => Valid(Spec(version: version));

    [Fact]
    public void Missing_version_is_rejected() =>
        Assert.Contains("cdiVersion is missing", Reason("""{"kind": "vendor.com/gpu", "devices": [{"name": "a"}]}"""));

    [Theory]
    [InlineData("0.1.0", "older than the earliest supported 0.3.0")]
    [InlineData("0.2.0", "older than the earliest supported 0.3.0")]
    [InlineData("1.2.0", "unknown cdiVersion")]
    [InlineData("1.1", "unknown cdiVersion")]
    [InlineData("vv1.1.0", "unknown cdiVersion")]
    public void Unknown_or_too_old_versions_are_rejected(string version, string expected) =>
        Assert.Contains(expected, Reason(Spec(version: version)));

    [Theory]
    [InlineData("""{"netDevices": [{"hostInterfaceName": "eth1", "name": "n0"}]}""", "1.1.0", "1.0.0")]
    [InlineData("""{"intelRdt": {"schemata": []}}""", "1.1.0", "1.0.0")]
    [InlineData("""{"intelRdt": {"enableMonitoring": true}}""", "1.1.0", "1.0.0")]
    [InlineData("""{"intelRdt": {"closID": "c"}}""", "0.7.0", "0.6.0")]
    [InlineData("""{"additionalGids": [5]}""", "0.7.0", "0.6.0")]
    [InlineData("""{"deviceNodes": [{"path": "/dev/x", "hostPath": "/dev/y", "type": "c", "major": 1}]}""", "0.5.0", "0.4.0")]
    [InlineData("""{"mounts": [{"hostPath": "/a", "containerPath": "/b", "type": "bind"}]}""", "0.4.0", "0.3.0")]
    public void Device_edit_features_need_their_version(string edits, string needed, string older)
    {
        Valid(Spec(edits, needed));
        Assert.Contains($"needs at least {needed}", Reason(Spec(edits, older)));
    }

    [Fact]
    public void Spec_level_edits_count_for_the_minimum_version()
    {
        var json = """{"cdiVersion": "0.6.0", "kind": "vendor.com/gpu", "containerEdits": {"additionalGids": [5]}, "devices": [{"name": "a"}]}""";
        Assert.Contains("additionalGids needs at least 0.7.0", Reason(json));
        Valid(json.Replace("0.6.0", "0.7.0"));
    }

    [Fact]
    public void Annotations_dots_in_class_and_digit_names_need_their_version()
    {
        Assert.Contains("needs at least 0.6.0", Reason(Spec(version: "0.5.0", extra: "\"annotations\": {\"k\": \"v\"},")));
        Valid(Spec(version: "0.6.0", extra: "\"annotations\": {\"k\": \"v\"},"));
        Assert.Contains("needs at least 0.6.0", Reason(Spec(version: "0.5.0", kind: "vendor.com/g.pu")));
        Valid(Spec(version: "0.6.0", kind: "vendor.com/g.pu"));
        Assert.Contains("needs at least 0.5.0", Reason(Spec(version: "0.4.0", name: "0")));
        Valid(Spec(version: "0.5.0", name: "0"));
    }

    [Fact]
    public void Device_annotations_need_0_6_0() =>
        Assert.Contains("needs at least 0.6.0", Reason("""{"cdiVersion": "0.5.0", "kind": "vendor.com/gpu", "devices": [{"name": "a", "annotations": {"k": "v"}}]}"""));

    [Theory]
    [InlineData("vendor.com")]
    [InlineData("vendor.com/")]
    [InlineData("/gpu")]
    [InlineData("vendor.com/gpu/x")]
    [InlineData("-vendor.com/gpu")]
    [InlineData("vendor-.com/gpu")]
    [InlineData("vendor..com/gpu")]
    [InlineData("ven_dor.com/gpu")]
    [InlineData("vendor.com/_gpu")]
    [InlineData("vendor.com/gpu-")]
    [InlineData("vendor.com/g@pu")]
    public void Bad_kinds_are_rejected(string kind) => Assert.Contains("kind", Reason(Spec(kind: kind)));

    [Theory]
    [InlineData("vendor.com/gpu")]
    [InlineData("foo.bar.baz/foo-bar123.B_az")]
    [InlineData("a/b")]
    [InlineData("3com.example/x")]
    public void Good_kinds_load(string kind) => Valid(Spec(kind: kind));

    [Fact]
    public void Class_longer_than_63_characters_is_rejected()
    {
        Valid(Spec(kind: "vendor.com/" + new string('a', 63)));
        Assert.Contains("1 to 63", Reason(Spec(kind: "vendor.com/" + new string('a', 64))));
    }

    [Fact]
    public void A_spec_without_devices_is_rejected()
    {
        Assert.Contains("no devices", Reason("""{"cdiVersion": "0.3.0", "kind": "vendor.com/gpu", "devices": []}"""));
        Assert.Contains("no devices", Reason("""{"cdiVersion": "0.3.0", "kind": "vendor.com/gpu"}"""));
    }

    [Theory]
    [InlineData("")]
    [InlineData("-dev")]
    [InlineData("dev_")]
    [InlineData("de/v")]
    [InlineData("de v")]
    public void Bad_device_names_are_rejected(string name) => Assert.Contains("device name", Reason(Spec(name: name)));

    [Theory]
    [InlineData("a")]
    [InlineData("gpu0")]
    [InlineData("GPU-0_a.b:c")]
    [InlineData("0")]
    public void Good_device_names_load(string name) => Valid(Spec(name: name));

    [Fact]
    public void A_device_defined_twice_in_one_file_is_rejected() =>
        Assert.Contains("defined twice", Reason("""{"cdiVersion": "0.3.0", "kind": "vendor.com/gpu", "devices": [{"name": "a"}, {"name": "a"}]}"""));

    [Theory]
    [InlineData("""{"env": ["NOEQUALS"]}""", "not NAME=VALUE")]
    [InlineData("""{"env": ["=value"]}""", "not NAME=VALUE")]
    [InlineData("""{"deviceNodes": [{"path": "dev/x"}]}""", "not absolute")]
    [InlineData("""{"deviceNodes": [{"path": ""}]}""", "no path")]
    [InlineData("""{"deviceNodes": [{"path": "/dev/x", "type": "x"}]}""", "invalid type")]
    [InlineData("""{"deviceNodes": [{"path": "/dev/x", "permissions": "rwx"}]}""", "invalid permissions")]
    [InlineData("""{"hooks": [{"hookName": "prestart", "path": "bin/hook"}]}""", "not absolute")]
    [InlineData("""{"hooks": [{"hookName": "preStart", "path": "/bin/hook"}]}""", "invalid hook name")]
    [InlineData("""{"hooks": [{"hookName": "poststop", "path": "/bin/hook", "timeout": 0}]}""", "greater than zero")]
    [InlineData("""{"hooks": [{"hookName": "poststop", "path": "/bin/hook", "env": ["X"]}]}""", "not NAME=VALUE")]
    [InlineData("""{"mounts": [{"hostPath": "", "containerPath": "/b"}]}""", "empty hostPath")]
    [InlineData("""{"mounts": [{"hostPath": "/a", "containerPath": ""}]}""", "empty containerPath")]
    [InlineData("""{"mounts": [{"hostPath": "/a", "containerPath": "b"}]}""", "not absolute")]
    [InlineData("""{"intelRdt": {"closID": "a/b"}}""", "closID")]
    [InlineData("""{"netDevices": [{"hostInterfaceName": "eth0", "name": ""}]}""", "hostInterfaceName and name")]
    [InlineData("""{"deviceNodes": [null]}""", "null entry")]
    public void Bad_edits_are_rejected(string edits, string expected)
    {
        var reason = Reason(Spec(edits));
        Assert.Contains(expected, reason);
        Assert.Contains("device \"dev\" containerEdits", reason);
    }

    [Fact]
    public void Bad_spec_level_edits_are_rejected() =>
        Assert.Contains("spec containerEdits", Reason("""{"cdiVersion": "0.3.0", "kind": "vendor.com/gpu", "containerEdits": {"env": ["X"]}, "devices": [{"name": "a"}]}"""));

    [Theory]
    [InlineData("""{"deviceNodes": [{"path": "/dev/x", "type": "b", "permissions": "rm"}]}""")]
    [InlineData("""{"deviceNodes": [{"path": "/dev/x", "type": "u", "permissions": ""}]}""")]
    [InlineData("""{"deviceNodes": [{"path": "/dev/x", "type": "p", "permissions": "none"}]}""")]
    [InlineData("""{"hooks": [{"hookName": "createRuntime", "path": "/bin/hook", "timeout": 1}, {"hookName": "startContainer", "path": "/bin/h"}]}""")]
    [InlineData("""{"mounts": [{"hostPath": "tmpfs", "containerPath": "/run/x", "type": "tmpfs"}]}""")]
    public void Good_edits_load(string edits) => Valid(Spec(edits));

    [Theory]
    [InlineData("vendor.com/gpu=0", "vendor.com", "gpu", "0")]
    [InlineData("a/b=c:d", "a", "b", "c:d")]
    [InlineData("nvidia.com/gpu=all", "nvidia.com", "gpu", "all")]
    public void Qualified_names_parse(string text, string vendor, string @class, string name)
    {
        var parsed = CdiNames.TryParseQualified(text, out var error);
        Assert.Null(error);
        Assert.Equal(new CdiQualifiedName(vendor, @class, name), parsed);
        Assert.Equal(text, parsed!.Value.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("/dev/gpu0")]
    [InlineData("gpu0")]
    [InlineData("vendor.com/gpu")]
    [InlineData("vendor.com/gpu=")]
    [InlineData("=gpu0")]
    [InlineData("vendor.com=gpu0")]
    [InlineData("/gpu=0")]
    [InlineData("vendor.com/=0")]
    [InlineData("1vendor.com/gpu=0")]
    [InlineData("vendor.com/gpu/x=0")]
    [InlineData("vendor.com/gpu=0=1")]
    [InlineData("vendor.com/gpu=-0")]
    public void Bad_qualified_names_do_not_parse(string text)
    {
        Assert.Null(CdiNames.TryParseQualified(text, out var error));
        Assert.Contains(text, error);
    }
}
