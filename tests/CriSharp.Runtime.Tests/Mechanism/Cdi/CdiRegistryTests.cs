using CriSharp.Mechanism.Cdi;
using CriSharp.Model;
using CriSharp.Runtime.Tests.Linux;

namespace CriSharp.Runtime.Tests.Mechanism.Cdi;

public sealed class CdiRegistryTests : IDisposable
{
    readonly TempDir temp = new();
    readonly string low, high;

    public CdiRegistryTests() => (low, high) = (temp.Sub("etc-cdi"), temp.Sub("run-cdi"));

    public void Dispose() => temp.Dispose();

    CdiRegistry Registry() => new(() => [low, high]);

    /// <summary>Writes a spec of kind vendor.com/gpu whose devices each set ENV_&lt;name&gt;=&lt;value&gt;, and dates it an hour back.</summary>
    static string Write(string dir, string file, string value, params string[] devices)
    {
        var list = string.Join(", ", devices.Select(d => $$$"""{"name": "{{{d}}}", "containerEdits": {"env": ["ENV_{{{d}}}={{{value}}}"]}}"""));
        var path = Path.Combine(dir, file);
        File.WriteAllText(path, $$"""{"cdiVersion": "0.3.0", "kind": "vendor.com/gpu", "containerEdits": {"env": ["SPEC={{value}}"]}, "devices": [{{list}}]}""");
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddHours(-1));
        return path;
    }

    static string Env(CdiResolution resolution, string device) =>
        Assert.Single(resolution.Edits, e => e.Device == device && !e.SpecLevel).Edits.Env![0];

    [Fact]
    public void Resolves_spec_edits_once_then_each_device_in_order()
    {
        var path = Write(low, "gpu.json", "1", "a", "b");
        var resolution = Registry().Resolve(["vendor.com/gpu=b", "vendor.com/gpu=a", "vendor.com/gpu=b"]);
        Assert.Equal(["vendor.com/gpu=b", "vendor.com/gpu=a"], resolution.Devices);
        Assert.Equal(3, resolution.Edits.Count);
        Assert.True(resolution.Edits[0].SpecLevel);
        Assert.Equal(("vendor.com/gpu=b", path, "SPEC=1"), (resolution.Edits[0].Device, resolution.Edits[0].SpecFile, resolution.Edits[0].Edits.Env![0]));
        Assert.Equal("ENV_b=1", resolution.Edits[1].Edits.Env![0]);
        Assert.Equal("ENV_a=1", resolution.Edits[2].Edits.Env![0]);
    }

    [Fact]
    public void Spec_level_edits_of_every_spec_come_before_device_edits()
    {
        Write(low, "gpu.json", "1", "a");
        File.WriteAllText(Path.Combine(low, "nic.yaml"), """
            cdiVersion: 0.3.0
            kind: vendor.com/nic
            containerEdits: {env: [NIC=1]}
            devices: [{name: n, containerEdits: {env: [N=1]}}]
            """);
        var resolution = Registry().Resolve(["vendor.com/gpu=a", "vendor.com/nic=n"]);
        Assert.Equal(["SPEC=1", "NIC=1", "ENV_a=1", "N=1"], resolution.Edits.Select(e => e.Edits.Env![0]));
        Assert.Equal([true, true, false, false], resolution.Edits.Select(e => e.SpecLevel));
    }

    [Fact]
    public void A_later_directory_overrides_an_earlier_one()
    {
        Write(low, "gpu.json", "low", "a", "b");
        var winner = Write(high, "gpu.yaml", "high", "a");
        var registry = Registry();
        var a = registry.Resolve(["vendor.com/gpu=a"]);
        Assert.Equal("ENV_a=high", Env(a, "vendor.com/gpu=a"));
        Assert.All(a.Edits, e => Assert.Equal(winner, e.SpecFile));
        Assert.Equal("ENV_b=low", Env(registry.Resolve(["vendor.com/gpu=b"]), "vendor.com/gpu=b"));
    }

    [Fact]
    public void Two_files_of_one_directory_defining_a_device_conflict()
    {
        var first = Write(high, "a.json", "1", "a", "b");
        var second = Write(high, "b.json", "2", "a");
        Write(low, "c.json", "0", "a");
        var registry = Registry();
        var e = Assert.Throws<WrongStateException>(() => registry.Resolve(["vendor.com/gpu=a"]));
        Assert.Contains("vendor.com/gpu=a", e.Message);
        Assert.Contains(first, e.Message);
        Assert.Contains(second, e.Message);
        Assert.Equal("ENV_b=1", Env(registry.Resolve(["vendor.com/gpu=b"]), "vendor.com/gpu=b"));
    }

    [Fact]
    public void A_conflict_in_a_lower_directory_is_overridden_by_a_higher_one()
    {
        Write(low, "a.json", "1", "a");
        Write(low, "b.json", "2", "a");
        Write(high, "c.json", "3", "a");
        Assert.Equal("ENV_a=3", Env(Registry().Resolve(["vendor.com/gpu=a"]), "vendor.com/gpu=a"));
    }

    [Fact]
    public void A_changed_file_is_read_again()
    {
        var path = Path.Combine(low, "gpu.yaml");
        File.WriteAllText(path, "cdiVersion: 0.3.0\nkind: vendor.com/gpu\ndevices: [{name: a, containerEdits: {env: [V=old]}}]\n");
        var registry = Registry();
        Assert.Equal("V=old", Env(registry.Resolve(["vendor.com/gpu=a"]), "vendor.com/gpu=a"));
        File.WriteAllText(path, "cdiVersion: 0.3.0\nkind: vendor.com/gpu\ndevices: [{name: a, containerEdits: {env: [V=newer]}}]\n");
        Assert.Equal("V=newer", Env(registry.Resolve(["vendor.com/gpu=a"]), "vendor.com/gpu=a"));
    }

    [Fact]
    public void A_rewrite_that_keeps_size_and_mtime_is_seen_while_the_file_is_recent()
    {
        var path = Path.Combine(low, "gpu.yaml");
        var mtime = DateTime.UtcNow;
        File.WriteAllText(path, "cdiVersion: 0.3.0\nkind: vendor.com/gpu\ndevices: [{name: a, containerEdits: {env: [V=one]}}]\n");
        File.SetLastWriteTimeUtc(path, mtime);
        var registry = Registry();
        Assert.Equal("V=one", Env(registry.Resolve(["vendor.com/gpu=a"]), "vendor.com/gpu=a"));
        File.WriteAllText(path, "cdiVersion: 0.3.0\nkind: vendor.com/gpu\ndevices: [{name: a, containerEdits: {env: [V=two]}}]\n");
        File.SetLastWriteTimeUtc(path, mtime);
        Assert.Equal("V=two", Env(registry.Resolve(["vendor.com/gpu=a"]), "vendor.com/gpu=a"));
    }

    [Fact]
    public void Unchanged_files_are_not_parsed_again_and_a_changed_one_is()
    {
        var path = Write(low, "gpu.json", "1", "a");
        Write(high, "other.json", "1", "z");
        var registry = Registry();
        registry.Resolve(["vendor.com/gpu=a"]);
        registry.Resolve(["vendor.com/gpu=a"]);
        Assert.Equal(2, registry.Parses);
        var mtime = File.GetLastWriteTimeUtc(path);
        Write(low, "gpu.json", "2", "a");
        File.SetLastWriteTimeUtc(path, mtime.AddSeconds(1));
        Assert.Equal("ENV_a=2", Env(registry.Resolve(["vendor.com/gpu=a"]), "vendor.com/gpu=a"));
        Assert.Equal(3, registry.Parses);
    }

    [Fact]
    public void A_new_file_and_a_removed_file_are_noticed()
    {
        var registry = Registry();
        Assert.Throws<WrongStateException>(() => registry.Resolve(["vendor.com/gpu=a"]));
        var path = Write(high, "gpu.json", "1", "a");
        Assert.Single(registry.Resolve(["vendor.com/gpu=a"]).Devices);
        File.Delete(path);
        Assert.Throws<WrongStateException>(() => registry.Resolve(["vendor.com/gpu=a"]));
    }

    [Fact]
    public void Only_json_and_yaml_files_directly_in_a_directory_count()
    {
        Write(low, "gpu.yml", "1", "a");
        Write(low, "gpu.json.bak", "1", "b");
        Write(temp.Sub("etc-cdi/nested"), "gpu.json", "1", "c");
        var registry = Registry();
        foreach (var device in new[] { "a", "b", "c" })
            Assert.Throws<WrongStateException>(() => registry.Resolve([$"vendor.com/gpu={device}"]));
    }

    [Fact]
    public void Unknown_device_error_names_the_device_the_dirs_and_every_broken_file()
    {
        Write(low, "good.json", "1", "a");
        var broken = Path.Combine(high, "broken.yaml");
        File.WriteAllText(broken, "cdiVersion: 0.3.0\nkind: vendor.com/gpu\ndevices: [{name: x, containerEdits: {env: [NOEQUALS]}}]\n");
        var garbage = Path.Combine(low, "garbage.json");
        File.WriteAllText(garbage, "{ nope");
        var e = Assert.Throws<WrongStateException>(() => Registry().Resolve(["vendor.com/gpu=x", "vendor.com/gpu=a"]));
        Assert.Contains("vendor.com/gpu=x", e.Message);
        Assert.DoesNotContain("vendor.com/gpu=a", e.Message);
        Assert.Contains(low, e.Message);
        Assert.Contains(high, e.Message);
        Assert.Contains($"{broken}: device \"x\" containerEdits: env entry \"NOEQUALS\" is not NAME=VALUE", e.Message);
        Assert.Contains(garbage, e.Message);
    }

    [Fact]
    public void Missing_directories_are_ignored()
    {
        Write(high, "gpu.json", "1", "a");
        var registry = new CdiRegistry(() => [Path.Combine(temp.Path, "absent"), high]);
        Assert.Single(registry.Resolve(["vendor.com/gpu=a"]).Devices);
    }

    [Theory]
    [InlineData("gpu0")]
    [InlineData("vendor.com/gpu")]
    [InlineData("vendor.com/gpu=bad name")]
    public void Malformed_names_are_invalid_requests(string name)
    {
        var e = Assert.Throws<InvalidRequestException>(() => Registry().Resolve([name]));
        Assert.Equal("config.CDI_devices", e.Field);
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public void Nothing_requested_touches_no_file_system()
    {
        var asked = 0;
        var registry = new CdiRegistry(() => { asked++; return [low]; });
        Assert.Same(CdiResolution.Empty, registry.Resolve([]));
        Assert.Equal(0, asked);
        Assert.Throws<WrongStateException>(() => registry.Resolve(["vendor.com/gpu=a"]));
        Assert.Equal(1, asked);
    }

    [Theory]
    [InlineData("""{"netDevices": [{"hostInterfaceName": "eth1", "name": "n0"}]}""", "netDevices")]
    [InlineData("""{"intelRdt": {"closID": "c"}}""", "intelRdt")]
    public void Edits_criSharp_does_not_apply_are_refused(string edits, string what)
    {
        var path = Path.Combine(low, "gpu.json");
        File.WriteAllText(path, $$"""{"cdiVersion": "1.1.0", "kind": "vendor.com/gpu", "devices": [{"name": "a", "containerEdits": {{edits}}}, {"name": "b"}]}""");
        var registry = Registry();
        var e = Assert.Throws<WrongStateException>(() => registry.Resolve(["vendor.com/gpu=a"]));
        Assert.Contains("vendor.com/gpu=a", e.Message);
        Assert.Contains(path, e.Message);
        Assert.Contains(what, e.Message);
        Assert.Contains("does not apply", e.Message);
        Assert.Single(registry.Resolve(["vendor.com/gpu=b"]).Devices);
        File.WriteAllText(path, $$"""{"cdiVersion": "1.1.0", "kind": "vendor.com/gpu", "containerEdits": {{edits}}, "devices": [{"name": "b"}]}""");
        Assert.Contains(what, Assert.Throws<WrongStateException>(() => registry.Resolve(["vendor.com/gpu=b"])).Message);
    }

    [Fact]
    public void Concurrent_resolves_agree()
    {
        Write(low, "gpu.json", "1", "a", "b");
        var registry = Registry();
        Parallel.For(0, 64, i => Assert.Equal(2, registry.Resolve([i % 2 == 0 ? "vendor.com/gpu=a" : "vendor.com/gpu=b"]).Edits.Count));
        Assert.Equal(1, registry.Parses);
    }

    [Fact]
    public void Annotations_give_devices_in_key_order()
    {
        var annotations = new Dictionary<string, string>
        {
            ["cdi.k8s.io/z-plugin"] = "vendor.com/gpu=2",
            ["cdi.k8s.io/a-plugin"] = " vendor.com/gpu=0 , ,vendor.com/nic=1,",
            ["other.io/x"] = "vendor.com/gpu=9",
            ["cdi.k8s.io"] = "vendor.com/gpu=8",
            ["CDI.k8s.io/upper"] = "vendor.com/gpu=7",
        };
        Assert.Equal(["vendor.com/gpu=0", "vendor.com/nic=1", "vendor.com/gpu=2"], CdiRegistry.DevicesFromAnnotations(annotations));
        Assert.Empty(CdiRegistry.DevicesFromAnnotations(new Dictionary<string, string>()));
    }
}
