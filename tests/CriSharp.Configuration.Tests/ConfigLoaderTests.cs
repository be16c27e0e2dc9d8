
namespace CriSharp.Configuration.Tests;

public sealed class ConfigLoaderTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("crisharp-config-").FullName;
    string MainFile => Path.Combine(_dir, "crisharp.toml");
    string DropIns => Path.Combine(_dir, "crisharp.d");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    DaemonConfig Load(params KeyValuePair<string, string>[] overrides) =>
        ConfigLoader.Load(new ConfigSources(MainFile, DropIns, overrides));

    [Fact]
    public void No_files_gives_the_documented_defaults()
    {
        var c = Load();
        Assert.Equal("/var/lib/crisharp", c.Root);
        Assert.Equal("/run/crisharp/crisharp.sock", c.Listen);
        Assert.Equal("/usr/sbin/runc", c.Runtimes["runc"].Path);
        Assert.Equal("/usr/bin/crun", c.Runtimes["crun"].Path);
        Assert.Equal(["/usr/lib/cni", "/opt/cni/bin"], c.Network.PluginDirs);
        Assert.Equal("/etc/cni/net.d", c.Network.ConfDir);
        Assert.Equal(["docker.io"], c.Registries.Search);
    }

    [Fact]
    public void Drop_ins_apply_in_lexical_order_after_the_main_file_then_flags_win()
    {
        File.WriteAllText(MainFile, "log_level = \"warn\"\nroot = \"/srv/a\"\n[stream]\nport = 1000\n");
        Directory.CreateDirectory(DropIns);
        File.WriteAllText(Path.Combine(DropIns, "20-b.toml"), "root = \"/srv/b20\"\n");
        File.WriteAllText(Path.Combine(DropIns, "10-a.toml"), "root = \"/srv/a10\"\nlog_level = \"debug\"\n");
        File.WriteAllText(Path.Combine(DropIns, "ignored.conf"), "this is not toml");

        var c = Load(KeyValuePair.Create("stream.port", "2000"));

        Assert.Equal("/srv/b20", c.Root);
        Assert.Equal("debug", c.LogLevel);
        Assert.Equal(2000, c.Stream.Port);
    }

    [Fact]
    public void Runtime_handlers_and_registry_hosts_are_tables()
    {
        File.WriteAllText(MainFile, """
            default_runtime = "kata"
            [runtimes.kata]
            path = "/usr/bin/kata"
            root_dir = "/run/kata"
            [registries.hosts."registry.k8s.io"]
            mirrors = ["http://127.0.0.1:5000"]
            mirrors_only = true
            """);
        var c = Load();
        Assert.Equal("/usr/bin/kata", c.Runtimes["kata"].Path);
        Assert.Equal(3, c.Runtimes.Count);
        Assert.True(c.Registries.Hosts["registry.k8s.io"].MirrorsOnly);
        Assert.Equal(["http://127.0.0.1:5000"], c.Registries.Hosts["registry.k8s.io"].Mirrors);
    }

    [Theory]
    [InlineData("bogus = 1\n", "bogus", "unknown key")]
    [InlineData("[network]\nconf_dirs = \"/x\"\n", "network.conf_dirs", "unknown key")]
    [InlineData("[runtimes.runc]\nbinary = \"/x\"\n", "runtimes.runc.binary", "unknown key")]
    [InlineData("root = 5\n", "root", "expected a string, found an integer")]
    [InlineData("[stream]\nport = \"80\"\n", "stream.port", "expected an integer, found a string")]
    [InlineData("[network]\nplugin_dirs = [\"/a\", 3]\n", "network.plugin_dirs", "array of strings")]
    [InlineData("network = 3\n", "network", "expected a table")]
    public void Unknown_keys_and_wrong_types_name_the_file_and_key(string toml, string key, string problem)
    {
        File.WriteAllText(MainFile, toml);
        var e = Assert.Throws<ConfigException>(() => Load());
        Assert.Equal(key, e.Key);
        Assert.Contains(MainFile, e.Message);
        Assert.Contains(key, e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void A_bad_drop_in_is_named()
    {
        Directory.CreateDirectory(DropIns);
        var bad = Path.Combine(DropIns, "50-bad.toml");
        File.WriteAllText(bad, "log_level = true\n");
        var e = Assert.Throws<ConfigException>(() => Load());
        Assert.Equal(bad, e.Origin);
        Assert.Equal("log_level", e.Key);
    }

    [Fact]
    public void Cdi_spec_dirs_default_to_the_cdi_spec_dirs_and_take_a_file_or_a_flag()
    {
        Assert.Equal(["/etc/cdi", "/var/run/cdi"], Load().Cdi.SpecDirs);
        File.WriteAllText(MainFile, "[cdi]\nspec_dirs = [\"/srv/cdi\"]\n");
        Assert.Equal(["/srv/cdi"], Load().Cdi.SpecDirs);
        var c = Load(KeyValuePair.Create("cdi.spec_dirs", "/a,/b"));
        Assert.Equal(["/a", "/b"], c.Cdi.SpecDirs);
        Assert.Contains("[cdi]\nspec_dirs = [\"/a\", \"/b\"]", ConfigRenderer.Render(c, withComments: false));
    }

    [Fact]
    public void Metrics_are_off_by_default_and_take_an_ip_and_port()
    {
        var c = Load();
        Assert.False(c.Metrics.Enabled);
        Assert.Equal("127.0.0.1:9090", c.Metrics.Address);
        File.WriteAllText(MainFile, "[metrics]\nenabled = true\naddress = \"[::1]:9191\"\n");
        c = Load(KeyValuePair.Create("metrics.address", "0.0.0.0:9292"));
        Assert.True(c.Metrics.Enabled);
        Assert.Equal("0.0.0.0:9292", c.Metrics.Address);
        Assert.Equal(9191, MetricsConfig.ParseAddress("[::1]:9191")?.Port);
        Assert.Contains("[metrics]\nenabled = true\naddress = \"0.0.0.0:9292\"", ConfigRenderer.Render(c, withComments: false));
    }

    [Theory]
    [InlineData("log_level = \"loud\"\n", "log_level")]
    [InlineData("log_format = \"xml\"\n", "log_format")]
    [InlineData("cgroup_driver = \"magic\"\n", "cgroup_driver")]
    [InlineData("default_runtime = \"nope\"\n", "default_runtime")]
    [InlineData("root = \"relative/dir\"\n", "root")]
    [InlineData("[stream]\nport = 70000\n", "stream.port")]
    [InlineData("[network]\nplugin_timeout_seconds = 0\n", "network.plugin_timeout_seconds")]
    [InlineData("[stream]\naddress = \"not-an-ip\"\n", "stream.address")]
    [InlineData("[metrics]\naddress = \"127.0.0.1\"\n", "metrics.address")]
    [InlineData("[metrics]\naddress = \"::1:9090\"\n", "metrics.address")]
    [InlineData("[metrics]\naddress = \"localhost:9090\"\n", "metrics.address")]
    [InlineData("[metrics]\naddress = \"127.0.0.1:70000\"\n", "metrics.address")]
    [InlineData("[registries.hosts.\"x.io\"]\nmirrors_only = true\n", "registries.hosts.\"x.io\".mirrors_only")]
    [InlineData("[cdi]\nspec_dirs = [\"/etc/cdi\", \"cdi\"]\n", "cdi.spec_dirs")]
    public void Invalid_values_are_refused_naming_the_key(string toml, string key)
    {
        File.WriteAllText(MainFile, toml);
        var e = Assert.Throws<ConfigException>(() => Load());
        Assert.Equal(key, e.Key);
    }

    [Fact]
    public void Invalid_toml_names_the_file()
    {
        File.WriteAllText(MainFile, "root = \"unterminated\n");
        var e = Assert.Throws<ConfigException>(() => Load());
        Assert.Contains(MainFile, e.Message);
        Assert.Contains("invalid TOML", e.Message);
    }

    [Fact]
    public void An_explicitly_named_missing_file_is_an_error()
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Load(new ConfigSources(MainFile, DropIns, null, FileMustExist: true)));
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void Flag_values_are_typed_by_the_schema()
    {
        var e = Assert.Throws<ConfigException>(() => Load(KeyValuePair.Create("stream.port", "eighty")));
        Assert.Equal("stream.port", e.Key);
        Assert.Contains("flag --stream-port", e.Message);
        var c = Load(KeyValuePair.Create("network.plugin_dirs", "/a,/b"));
        Assert.Equal(["/a", "/b"], c.Network.PluginDirs);
    }

    [Fact]
    public void Rendered_defaults_parse_back_to_the_same_config_and_comment_every_key()
    {
        var text = ConfigRenderer.Render(new DaemonConfig(), withComments: true);
        File.WriteAllText(MainFile, text);
        var parsed = Load();
        Assert.Equal(ConfigRenderer.Render(new DaemonConfig(), false), ConfigRenderer.Render(parsed, false));
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
            if (lines[i].Contains(" = ") && !lines[i].StartsWith('#'))
                Assert.StartsWith("#", lines[i - 1]);
    }

    [Fact]
    public void Rendered_effective_config_round_trips_tables_and_escapes()
    {
        var c = new DaemonConfig { Root = "/srv/with \"quotes\" and \\ slash" };
        c.Registries.Hosts["127.0.0.1:5000"] = new RegistryHostConfig { Mirrors = ["http://m"], Insecure = true };
        File.WriteAllText(MainFile, ConfigRenderer.Render(c, withComments: false));
        var parsed = Load();
        Assert.Equal(c.Root, parsed.Root);
        Assert.True(parsed.Registries.Hosts["127.0.0.1:5000"].Insecure);
    }
}
