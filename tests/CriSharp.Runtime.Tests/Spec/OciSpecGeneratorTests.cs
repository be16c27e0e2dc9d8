using System.Text;
using System.Text.Json;
using CriSharp.Mechanism;
using CriSharp.Images;
using CriSharp.Mechanism.Oci;
using CriSharp.Mechanism.Processes;
using CriSharp.Model;
using CriSharp.Runtime.Spec;

namespace CriSharp.Runtime.Tests.Spec;

/// <summary>A throwaway image rootfs and pod directory under /tmp, with the image's /etc/passwd and /etc/group.</summary>
sealed class SpecFixture : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("crisharp-spec-").FullName;
    public string Rootfs => Path.Combine(Root, "rootfs");
    public string PodDir => Path.Combine(Root, "pod");

    public const string Passwd = """
        root:x:0:0:root:/root:/bin/sh
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
        app:x:1000:1000:app:/home/app:/bin/sh
        other:x:1001:1002::/home/other:/bin/sh
        """;
    public const string Group = """
        root:x:0:root
        daemon:x:1:
        video:x:44:app,other
        staff:x:50:app
        app:x:1000:
        others:x:1002:
        """;

    public SpecFixture(bool withUserFiles = true)
    {
        Directory.CreateDirectory(Path.Combine(Rootfs, "etc"));
        Directory.CreateDirectory(PodDir);
        if (withUserFiles)
        {
            File.WriteAllText(Path.Combine(Rootfs, "etc/passwd"), Passwd + "\n");
            File.WriteAllText(Path.Combine(Rootfs, "etc/group"), Group + "\n");
        }
        File.WriteAllText(Path.Combine(PodDir, "hostname"), "web-0\n");
        File.WriteAllText(Path.Combine(PodDir, "hosts"), "127.0.0.1 localhost\n");
        File.WriteAllText(Path.Combine(PodDir, "resolv.conf"), "nameserver 10.0.0.10\n");
    }

    public static readonly HostFeatures V1Host = new(CgroupV2: false, HugetlbController: true, AppArmorEnabled: false, LastCapability: 40);
    public static readonly HostFeatures V2Host = new(CgroupV2: true, HugetlbController: true, AppArmorEnabled: false, LastCapability: 40);

    public PodSandbox Sandbox(Func<PodSandbox, PodSandbox>? change = null, bool privileged = false)
    {
        var sandbox = new PodSandbox
        {
            Id = "sb1",
            Spec = new SandboxSpec { Name = "web-0", Uid = "uid-1", Namespace = "default", Hostname = "web-0", Security = new SandboxSecuritySpec { Privileged = privileged } },
            RuntimeHandler = "runc",
            Dir = PodDir,
            NetNsPath = "/var/run/netns/cni-1",
            IpcNsPath = "/run/crisharp/ns/ipc-1",
            UtsNsPath = "/run/crisharp/ns/uts-1",
            ShmPath = "/run/crisharp/pods/sb1/shm",
        };
        return change is null ? sandbox : change(sandbox);
    }

    public static ContainerSpec Container(Func<ContainerSpec, ContainerSpec>? change = null)
    {
        var container = new ContainerSpec { Name = "app", Image = "docker.io/library/busybox:latest", Command = ["/bin/sh"] };
        return change is null ? container : change(container);
    }

    public static ImageConfig Image(ImageRunConfig? config = null) => new() { Config = config ?? new ImageRunConfig() };

    public SpecInput Input(ContainerSpec? container = null, ImageConfig? image = null, PodSandbox? sandbox = null,
        string? pidNs = null, HostFeatures? host = null) =>
        new(container ?? Container(), sandbox ?? Sandbox(), image ?? Image(), Rootfs, "/kubepods/pod1/c1", pidNs, "c1")
        { Host = host ?? V1Host };

    public OciSpec Generate(ContainerSpec? container = null, ImageConfig? image = null, PodSandbox? sandbox = null,
        string? pidNs = null, HostFeatures? host = null) =>
        OciSpecGenerator.Generate(Input(container, image, sandbox, pidNs, host));

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
    }
}

public sealed class OciSpecGeneratorTests : IDisposable
{
    readonly SpecFixture _f = new();

    public void Dispose() => _f.Dispose();

    static ContainerSpec WithSecurity(Func<SecuritySpec, SecuritySpec> change) =>
        SpecFixture.Container(c => c with { Security = change(c.Security) });

    // ---- args, env, cwd ----

    public static TheoryData<string[], string[], string[]?, string[]?, string[]> ArgCases => new()
    {
        // CRI command, CRI args, image Entrypoint, image Cmd → process.args
        { ["/bin/app"], [], ["/entry"], ["cmd"], ["/bin/app"] },
        { ["/bin/app"], ["-v"], ["/entry"], ["cmd"], ["/bin/app", "-v"] },
        { [], ["-v"], ["/entry"], ["cmd"], ["/entry", "-v"] },
        { [], ["/bin/echo", "hi"], null, ["cmd"], ["/bin/echo", "hi"] },
        { [], [], ["/entry"], ["cmd", "x"], ["/entry", "cmd", "x"] },
        { [], [], null, ["/bin/sh"], ["/bin/sh"] },
        { [], [], ["/entry"], null, ["/entry"] },
    };

    [Theory]
    [MemberData(nameof(ArgCases))]
    public void Args_follow_the_kubelet_rules(string[] command, string[] args, string[]? entrypoint, string[]? cmd, string[] expected)
    {
        var spec = _f.Generate(SpecFixture.Container(c => c with { Command = [.. command], Args = [.. args] }),
            SpecFixture.Image(new ImageRunConfig { Entrypoint = entrypoint?.ToList(), Cmd = cmd?.ToList() }));
        Assert.Equal(expected, spec.Process!.Args);
    }

    [Fact]
    public void No_command_anywhere_is_an_error()
    {
        var e = Assert.Throws<SpecException>(() => _f.Generate(SpecFixture.Container(c => c with { Command = [] })));
        Assert.Equal("no command specified", e.Message);
        Assert.Equal("command", e.Field);
    }

    [Fact]
    public void Env_merges_image_then_request_with_request_winning()
    {
        var spec = _f.Generate(
            SpecFixture.Container(c => c with { Envs = [new("FOO", "cri"), new("NEW", "1")] }),
            SpecFixture.Image(new ImageRunConfig { Env = ["PATH=/custom/bin", "FOO=image", "KEEP=yes"] }));
        Assert.Equal(["HOSTNAME=web-0", "PATH=/custom/bin", "FOO=cri", "KEEP=yes", "NEW=1"], spec.Process!.Env);
    }

    [Fact]
    public void Env_gets_a_default_path_and_request_can_override_hostname()
    {
        var spec = _f.Generate(SpecFixture.Container(c => c with { Envs = [new("HOSTNAME", "custom")] }));
        Assert.Equal(["PATH=" + OciSpecGenerator.DefaultPath, "HOSTNAME=custom"], spec.Process!.Env);
    }

    [Theory]
    [InlineData("", null, "/")]
    [InlineData("", "/srv", "/srv")]
    [InlineData("", "srv", "/srv")]
    [InlineData("/work", "/srv", "/work")]
    public void Working_directory_is_request_then_image_then_root(string requested, string? imageDir, string expected)
    {
        var spec = _f.Generate(SpecFixture.Container(c => c with { WorkingDir = requested }),
            SpecFixture.Image(new ImageRunConfig { WorkingDir = imageDir }));
        Assert.Equal(expected, spec.Process!.Cwd);
    }

    [Fact]
    public void Tty_sets_terminal_and_oom_score_adj_is_copied()
    {
        var spec = _f.Generate(SpecFixture.Container(c => c with { Tty = true, Resources = new ResourceSpec { OomScoreAdj = 999 } }));
        Assert.True(spec.Process!.Terminal);
        Assert.Equal(999, spec.Process.OomScoreAdj);
        Assert.Equal("RLIMIT_NOFILE", Assert.Single(spec.Process.Rlimits!).Type);
        Assert.Equal(1048576UL, spec.Process.Rlimits![0].Soft);
        var capped = _f.Generate(host: SpecFixture.V1Host with { OpenFilesHardLimit = 20000 }).Process!.Rlimits![0];
        Assert.Equal((20000UL, 20000UL), (capped.Soft, capped.Hard));
    }

    // ---- user and groups ----

    [Theory]
    [InlineData(null, 0u, 0u)]
    [InlineData("", 0u, 0u)]
    [InlineData("app", 1000u, 1000u)]
    [InlineData("1000", 1000u, 1000u)]
    [InlineData("4242", 4242u, 0u)]
    [InlineData("4242:99", 4242u, 99u)]
    [InlineData("app:staff", 1000u, 50u)]
    [InlineData("1001:video", 1001u, 44u)]
    [InlineData("other:7", 1001u, 7u)]
    public void Image_user_is_resolved_against_the_rootfs(string? imageUser, uint uid, uint gid)
    {
        var spec = _f.Generate(image: SpecFixture.Image(new ImageRunConfig { User = imageUser }));
        Assert.Equal(uid, spec.Process!.User.Uid);
        Assert.Equal(gid, spec.Process.User.Gid);
    }

    [Theory]
    [InlineData("ghost", "ghost")]
    [InlineData("app:ghosts", "ghosts")]
    public void Unknown_image_user_or_group_names_are_errors(string imageUser, string named)
    {
        var e = Assert.Throws<SpecException>(() => _f.Generate(image: SpecFixture.Image(new ImageRunConfig { User = imageUser })));
        Assert.Contains($"\"{named}\"", e.Message);
        Assert.Equal("image.user", e.Field);
    }

    [Fact]
    public void Run_as_username_then_run_as_user_override_the_image()
    {
        var image = SpecFixture.Image(new ImageRunConfig { User = "app" });
        var byName = _f.Generate(WithSecurity(s => s with { RunAsUsername = "other" }), image);
        Assert.Equal((1001u, 1002u), (byName.Process!.User.Uid, byName.Process.User.Gid));

        var byId = _f.Generate(WithSecurity(s => s with { RunAsUser = 1000, RunAsGroup = 3000 }), image);
        Assert.Equal((1000u, 3000u), (byId.Process!.User.Uid, byId.Process.User.Gid));

        var unknownId = _f.Generate(WithSecurity(s => s with { RunAsUser = 5555 }), image);
        Assert.Equal((5555u, 0u), (unknownId.Process!.User.Uid, unknownId.Process.User.Gid));

        var e = Assert.Throws<SpecException>(() => _f.Generate(WithSecurity(s => s with { RunAsUsername = "nobody-here" })));
        Assert.Contains("nobody-here", e.Message);

        var groupOnly = Assert.Throws<SpecException>(() => _f.Generate(WithSecurity(s => s with { RunAsGroup = 3000 }), image));
        Assert.Equal("linux.security_context.run_as_group", groupOnly.Field);
        var withName = _f.Generate(WithSecurity(s => s with { RunAsUsername = "other", RunAsGroup = 3000 }), image);
        Assert.Equal((1001u, 3000u), (withName.Process!.User.Uid, withName.Process.User.Gid));
    }

    [Fact]
    public void Merge_adds_image_groups_and_strict_only_requested_ones()
    {
        var merge = _f.Generate(WithSecurity(s => s with { RunAsUser = 1000, SupplementalGroups = [3000, 50] }));
        Assert.Equal([1000u, 44u, 50u, 3000u], merge.Process!.User.AdditionalGids);

        var strict = _f.Generate(WithSecurity(s => s with { RunAsUser = 1000, SupplementalGroups = [3000], SupplementalGroupsPolicy = SupplementalGroupsPolicy.Strict }));
        Assert.Equal([1000u, 3000u], strict.Process!.User.AdditionalGids);
    }

    [Fact]
    public void Missing_user_files_are_fine_for_numeric_ids_only()
    {
        using var bare = new SpecFixture(withUserFiles: false);
        var spec = bare.Generate(image: SpecFixture.Image(new ImageRunConfig { User = "123:456" }));
        Assert.Equal((123u, 456u), (spec.Process!.User.Uid, spec.Process.User.Gid));
        Assert.Throws<SpecException>(() => bare.Generate(image: SpecFixture.Image(new ImageRunConfig { User = "app" })));
    }

    [Fact]
    public void User_files_are_read_through_symlinks_without_leaving_the_rootfs()
    {
        // A host file the image tries to reach via an absolute symlink with ".." components.
        var hostFile = Path.Combine(_f.Root, "host-passwd");
        File.WriteAllText(hostFile, "evil:x:0:0::/:/bin/sh\n");
        File.Delete(Path.Combine(_f.Rootfs, "etc/passwd"));
        File.CreateSymbolicLink(Path.Combine(_f.Rootfs, "etc/passwd"), "/../../../../.." + hostFile);
        Assert.Throws<SpecException>(() => _f.Generate(image: SpecFixture.Image(new ImageRunConfig { User = "evil" })));

        // An in-rootfs symlink (absolute, meaning the rootfs's own /) is followed.
        Directory.CreateDirectory(Path.Combine(_f.Rootfs, "real"));
        File.WriteAllText(Path.Combine(_f.Rootfs, "real/passwd"), "svc:x:77:88::/:/bin/sh\n");
        File.Delete(Path.Combine(_f.Rootfs, "etc/passwd"));
        File.CreateSymbolicLink(Path.Combine(_f.Rootfs, "etc/passwd"), "/real/passwd");
        var spec = _f.Generate(image: SpecFixture.Image(new ImageRunConfig { User = "svc" }));
        Assert.Equal((77u, 88u), (spec.Process!.User.Uid, spec.Process.User.Gid));
    }

    // ---- capabilities ----

    [Fact]
    public void Root_gets_the_default_fourteen()
    {
        var caps = _f.Generate().Process!.Capabilities!;
        Assert.Equal(14, caps.Bounding!.Count);
        Assert.Equal(OciSpecGenerator.DefaultCapabilities.Order(), caps.Bounding.Order());
        Assert.Equal(caps.Bounding, caps.Effective);
        Assert.Equal(caps.Bounding, caps.Permitted);
        Assert.Empty(caps.Inheritable!);
        Assert.Empty(caps.Ambient!);
    }

    [Fact]
    public void Add_and_drop_accept_any_case_with_or_without_prefix()
    {
        var caps = _f.Generate(WithSecurity(s => s with { AddCapabilities = ["sys_admin", "CAP_NET_ADMIN"], DropCapabilities = ["Chown", "cap_kill"] }))
            .Process!.Capabilities!;
        Assert.Contains("CAP_SYS_ADMIN", caps.Bounding!);
        Assert.Contains("CAP_NET_ADMIN", caps.Effective!);
        Assert.DoesNotContain("CAP_CHOWN", caps.Bounding!);
        Assert.DoesNotContain("CAP_KILL", caps.Permitted!);
        Assert.Equal(14, caps.Bounding!.Count);
    }

    [Fact]
    public void Drop_all_then_add_keeps_only_the_added()
    {
        var caps = _f.Generate(WithSecurity(s => s with { DropCapabilities = ["ALL"], AddCapabilities = ["NET_BIND_SERVICE"] })).Process!.Capabilities!;
        Assert.Equal(["CAP_NET_BIND_SERVICE"], caps.Bounding);
    }

    [Fact]
    public void Add_all_and_privileged_give_every_known_capability()
    {
        var all = _f.Generate(WithSecurity(s => s with { AddCapabilities = ["all"], DropCapabilities = ["SYS_ADMIN"] })).Process!.Capabilities!;
        Assert.Equal(40, all.Bounding!.Count);
        Assert.DoesNotContain("CAP_SYS_ADMIN", all.Bounding);

        var privileged = _f.Generate(WithSecurity(s => s with { Privileged = true, DropCapabilities = ["ALL"] }), sandbox: _f.Sandbox(privileged: true),
            host: SpecFixture.V1Host with { LastCapability = 37 }).Process!.Capabilities!;
        Assert.Equal(38, privileged.Bounding!.Count);
        Assert.Equal("CAP_AUDIT_READ", privileged.Bounding[^1]);
    }

    [Fact]
    public void Every_capability_means_every_one_in_the_daemons_bounding_set()
    {
        // A daemon without CAP_SYS_RESOURCE (bit 24) cannot grant it: capset would fail the create with EPERM.
        var host = SpecFixture.V1Host with { BoundingCapabilities = 0x1fffeffffffUL };
        var privileged = _f.Generate(WithSecurity(s => s with { Privileged = true }), sandbox: _f.Sandbox(privileged: true), host: host).Process!.Capabilities!;
        Assert.Equal(40, privileged.Bounding!.Count);
        Assert.DoesNotContain("CAP_SYS_RESOURCE", privileged.Bounding);
        var all = _f.Generate(WithSecurity(s => s with { AddCapabilities = ["ALL"] }), host: host).Process!.Capabilities!;
        Assert.DoesNotContain("CAP_SYS_RESOURCE", all.Effective!);
    }

    [Fact]
    public void Unknown_capability_is_an_error_naming_it()
    {
        var e = Assert.Throws<SpecException>(() => _f.Generate(WithSecurity(s => s with { AddCapabilities = ["CAP_FLY"] })));
        Assert.Contains("CAP_FLY", e.Message);
        Assert.Contains("capabilities", e.Field);
    }

    [Fact]
    public void Non_root_keeps_bounding_but_only_ambient_is_effective()
    {
        var plain = _f.Generate(WithSecurity(s => s with { RunAsUser = 1000 })).Process!.Capabilities!;
        Assert.Equal(14, plain.Bounding!.Count);
        Assert.Empty(plain.Effective!);
        Assert.Empty(plain.Permitted!);

        var ambient = _f.Generate(WithSecurity(s => s with { RunAsUser = 1000, AddAmbientCapabilities = ["net_admin"] })).Process!.Capabilities!;
        Assert.Equal(["CAP_NET_ADMIN"], ambient.Effective);
        Assert.Equal(["CAP_NET_ADMIN"], ambient.Permitted);
        Assert.Equal(["CAP_NET_ADMIN"], ambient.Inheritable);
        Assert.Equal(["CAP_NET_ADMIN"], ambient.Ambient);
        Assert.Contains("CAP_NET_ADMIN", ambient.Bounding!);
    }

    [Fact]
    public void Privileged_container_needs_a_privileged_sandbox()
    {
        var e = Assert.Throws<SpecException>(() => _f.Generate(WithSecurity(s => s with { Privileged = true })));
        Assert.Contains("privileged", e.Field);
    }

    // ---- masked / readonly paths ----

    [Fact]
    public void Masked_and_readonly_paths_default_override_and_vanish_when_privileged()
    {
        var defaults = _f.Generate().Linux!;
        Assert.Equal(OciSpecGenerator.DefaultMaskedPaths, defaults.MaskedPaths);
        Assert.Contains("/proc/kcore", defaults.MaskedPaths!);
        Assert.Equal(["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"], defaults.ReadonlyPaths);

        // An empty list outside a pod user namespace is "not given" (the defaults), as containerd reads it.
        var overridden = _f.Generate(WithSecurity(s => s with { MaskedPaths = ["/proc/x"], ReadonlyPaths = [] })).Linux!;
        Assert.Equal(["/proc/x"], overridden.MaskedPaths);
        Assert.Equal(OciSpecGenerator.DefaultReadonlyPaths, overridden.ReadonlyPaths);
        var unmaskedOnHost = _f.Generate(WithSecurity(s => s with { MaskedPaths = [], ReadonlyPaths = [] })).Linux!;
        Assert.Equal(OciSpecGenerator.DefaultMaskedPaths, unmaskedOnHost.MaskedPaths);

        // kubelet's Unmasked procMount (both empty) in a pod with its own user namespace drops both.
        var unmasked = _f.Generate(WithSecurity(s => s with { MaskedPaths = [], ReadonlyPaths = [] }), sandbox: UsernsSandbox()).Linux!;
        Assert.Empty(unmasked.MaskedPaths!);
        Assert.Empty(unmasked.ReadonlyPaths!);

        var privileged = _f.Generate(WithSecurity(s => s with { Privileged = true, MaskedPaths = ["/proc/x"] }), sandbox: _f.Sandbox(privileged: true)).Linux!;
        Assert.Null(privileged.MaskedPaths);
        Assert.Null(privileged.ReadonlyPaths);
    }

    PodSandbox UsernsSandbox() => _f.Sandbox(p => p with
    {
        UserNsPath = "/run/crisharp/pods/sb1/ns/user",
        Spec = p.Spec with
        {
            Security = p.Spec.Security with
            {
                Namespaces = p.Spec.Security.Namespaces with { User = new UserNamespaceSpec(NamespaceMode.Pod, [new(0, 100000, 65536)], [new(0, 200000, 65536)]) },
            },
        },
    });

    [Fact]
    public void A_pod_user_namespace_is_joined_first_with_its_mappings()
    {
        var linux = _f.Generate(sandbox: UsernsSandbox()).Linux!;
        Assert.Equal("user", linux.Namespaces![0].Type);
        Assert.Equal("/run/crisharp/pods/sb1/ns/user", linux.Namespaces[0].Path);
        Assert.Equal((0u, 100000u, 65536u), (linux.UidMappings![0].ContainerId, linux.UidMappings[0].HostId, linux.UidMappings[0].Size));
        Assert.Equal(200000u, linux.GidMappings![0].HostId);
        var host = _f.Generate().Linux!;
        Assert.DoesNotContain(host.Namespaces!, n => n.Type == "user");
        Assert.Null(host.UidMappings);
    }

    [Fact]
    public void An_idmapped_mount_binds_its_prepared_clone_and_never_the_host_path()
    {
        var dir = Directory.CreateTempSubdirectory("crisharp-spec-idmap-").FullName;
        try
        {
            var mount = new MountSpec("/data", dir, UidMappings: [new(0, 100000, 65536)], GidMappings: [new(0, 100000, 65536)]);
            var container = SpecFixture.Container(c => c with { Mounts = [mount] });
            var e = Assert.Throws<SpecException>(() => OciSpecGenerator.Generate(_f.Input(container, sandbox: UsernsSandbox())));
            Assert.Contains("idmapped source", e.Message);
            var spec = OciSpecGenerator.Generate(_f.Input(container, sandbox: UsernsSandbox()) with { MountSources = ["/run/crisharp/c1/idmap/v0"] });
            Assert.Equal("/run/crisharp/c1/idmap/v0", spec.Mounts!.Single(m => m.Destination == "/data").Source);
        }
        finally { Directory.Delete(dir); }
    }

    [Fact]
    public void An_image_volume_binds_what_the_create_mounted_read_only_without_suid_or_devices_whatever_readonly_says()
    {
        var mount = new MountSpec("/img", "", Readonly: false, Propagation: MountPropagationMode.HostToContainer, Image: "busybox:latest", ImageSubPath: "bin");
        var container = SpecFixture.Container(c => c with { Mounts = [mount] });
        var e = Assert.Throws<SpecException>(() => OciSpecGenerator.Generate(_f.Input(container)));
        Assert.Contains("busybox:latest", e.Message);
        var spec = OciSpecGenerator.Generate(_f.Input(container) with { MountSources = ["/run/crisharp/containers/c1/volumes/0/bin"] });
        var bound = spec.Mounts!.Single(m => m.Destination == "/img");
        Assert.Equal("/run/crisharp/containers/c1/volumes/0/bin", bound.Source);
        Assert.Equal(["rbind", "rslave", "ro", "nosuid", "nodev"], bound.Options);
        Assert.DoesNotContain("noexec", bound.Options!);
    }

    // ---- seccomp / apparmor ----

    [Fact]
    public void Seccomp_unconfined_means_no_filter()
    {
        Assert.Null(_f.Generate().Linux!.Seccomp);
    }

    [Fact]
    public void Seccomp_runtime_default_is_a_deny_by_default_allowlist()
    {
        var seccomp = _f.Generate(WithSecurity(s => s with { Seccomp = new(ProfileKind.RuntimeDefault) })).Linux!.Seccomp!;
        Assert.Equal("SCMP_ACT_ERRNO", seccomp.DefaultAction);
        Assert.Equal(1u, seccomp.DefaultErrnoRet);
        Assert.NotEmpty(seccomp.Architectures!);
        var allowed = seccomp.Syscalls!.Where(s => s.Action == "SCMP_ACT_ALLOW" && s.Args is null).SelectMany(s => s.Names).ToHashSet();
        Assert.Contains("read", allowed);
        Assert.Contains("execve", allowed);
        foreach (var blocked in new[] { "mount", "kexec_load", "init_module", "reboot", "unshare", "setns", "keyctl", "bpf" })
            Assert.DoesNotContain(blocked, allowed);
        // clone is allowed only without namespace flags; clone3 answers ENOSYS.
        var clone = seccomp.Syscalls!.Single(s => s.Names.Contains("clone"));
        Assert.Equal("SCMP_CMP_MASKED_EQ", clone.Args![0].Op);
        Assert.Equal(38u, seccomp.Syscalls!.Single(s => s.Names.Contains("clone3")).ErrnoRet);

        var admin = _f.Generate(WithSecurity(s => s with { Seccomp = new(ProfileKind.RuntimeDefault), AddCapabilities = ["SYS_ADMIN"] })).Linux!.Seccomp!;
        var adminAllowed = admin.Syscalls!.Where(s => s.Action == "SCMP_ACT_ALLOW" && s.Args is null).SelectMany(s => s.Names).ToHashSet();
        Assert.Contains("mount", adminAllowed);
        Assert.Contains("clone", adminAllowed);
        Assert.DoesNotContain("kexec_load", adminAllowed);
    }

    [Fact]
    public void Privileged_gets_no_seccomp_even_with_a_localhost_profile()
    {
        var profile = Path.Combine(_f.Root, "profile.json");
        File.WriteAllText(profile, """{"defaultAction":"SCMP_ACT_LOG","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}""");
        var sandbox = _f.Sandbox(privileged: true);
        Assert.Null(_f.Generate(WithSecurity(s => s with { Privileged = true, Seccomp = new(ProfileKind.RuntimeDefault) }), sandbox: sandbox).Linux!.Seccomp);
        Assert.Null(_f.Generate(WithSecurity(s => s with { Privileged = true, Seccomp = new(ProfileKind.Localhost, profile) }), sandbox: sandbox).Linux!.Seccomp);
        // The same profile applies to an unprivileged container.
        var local = _f.Generate(WithSecurity(s => s with { Seccomp = new(ProfileKind.Localhost, profile) })).Linux!.Seccomp!;
        Assert.Equal("SCMP_ACT_LOG", local.DefaultAction);
        Assert.Equal(13u, local.Syscalls![0].ErrnoRet);
    }

    [Theory]
    [InlineData("missing.json", null, "cannot read")]
    [InlineData("bad.json", "{not json", "not valid JSON")]
    [InlineData("empty.json", "{}", "no defaultAction")]
    public void Seccomp_localhost_problems_name_the_file(string file, string? content, string expected)
    {
        var path = Path.Combine(_f.Root, file);
        if (content is not null) File.WriteAllText(path, content);
        var e = Assert.Throws<SpecException>(() => _f.Generate(WithSecurity(s => s with { Seccomp = new(ProfileKind.Localhost, path) })));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
        Assert.Contains("seccomp", e.Field);
    }

    [Fact]
    public void Apparmor_is_only_written_when_the_host_has_it()
    {
        var runtimeDefault = WithSecurity(s => s with { Apparmor = new(ProfileKind.RuntimeDefault) });
        Assert.Null(_f.Generate(runtimeDefault).Process!.ApparmorProfile);
        var host = SpecFixture.V1Host with { AppArmorEnabled = true };
        Assert.Equal("unconfined", _f.Generate(runtimeDefault, host: host).Process!.ApparmorProfile);
        Assert.Equal("my-profile", _f.Generate(WithSecurity(s => s with { Apparmor = new(ProfileKind.Localhost, "localhost/my-profile") }), host: host).Process!.ApparmorProfile);
    }

    [Fact]
    public void No_new_privileges_and_readonly_rootfs()
    {
        var spec = _f.Generate(WithSecurity(s => s with { NoNewPrivs = true, ReadonlyRootfs = true }));
        Assert.True(spec.Process!.NoNewPrivileges);
        Assert.True(spec.Root!.Readonly);
        Assert.Equal(_f.Rootfs, spec.Root.Path);
        Assert.All(spec.Mounts!.Where(m => m.Destination.StartsWith("/etc/", StringComparison.Ordinal)), m => Assert.Contains("ro", m.Options!));

        var plain = _f.Generate();
        Assert.Null(plain.Process!.NoNewPrivileges);
        Assert.Null(plain.Root!.Readonly);
        Assert.All(plain.Mounts!.Where(m => m.Destination.StartsWith("/etc/", StringComparison.Ordinal)), m => Assert.Contains("rw", m.Options!));
    }

    // ---- mounts ----

    static OciMount At(OciSpec spec, string destination) => Assert.Single(spec.Mounts!, m => m.Destination == destination);

    [Fact]
    public void Default_mounts_are_present()
    {
        var spec = _f.Generate();
        Assert.Equal("proc", At(spec, "/proc").Type);
        Assert.Equal(["nosuid", "strictatime", "mode=755", "size=65536k"], At(spec, "/dev").Options);
        Assert.Contains("newinstance", At(spec, "/dev/pts").Options!);
        Assert.Contains("gid=5", At(spec, "/dev/pts").Options!);
        Assert.Equal("mqueue", At(spec, "/dev/mqueue").Type);
        Assert.Contains("ro", At(spec, "/sys").Options!);
        Assert.Equal("cgroup", At(spec, "/sys/fs/cgroup").Type);
        Assert.Contains("ro", At(spec, "/sys/fs/cgroup").Options!);
        var shm = At(spec, "/dev/shm");
        Assert.Equal(("bind", "/run/crisharp/pods/sb1/shm"), (shm.Type, shm.Source));
        Assert.Equal(Path.Combine(_f.PodDir, "hosts"), At(spec, "/etc/hosts").Source);
        Assert.Equal(Path.Combine(_f.PodDir, "hostname"), At(spec, "/etc/hostname").Source);
        Assert.Equal(Path.Combine(_f.PodDir, "resolv.conf"), At(spec, "/etc/resolv.conf").Source);
        Assert.DoesNotContain(spec.Mounts!, m => m.Destination == "/run");
    }

    [Fact]
    public void Shm_is_host_with_host_ipc_and_a_private_tmpfs_without_a_pod_shm()
    {
        var hostIpc = _f.Generate(WithSecurity(s => s with { Namespaces = new NamespaceModes(Ipc: NamespaceMode.Node) }),
            sandbox: _f.Sandbox(s => PodModes(s with { IpcNsPath = "", ShmPath = "" }, new NamespaceModes(Ipc: NamespaceMode.Node))));
        Assert.Equal("/dev/shm", At(hostIpc, "/dev/shm").Source);

        var own = _f.Generate(sandbox: _f.Sandbox(s => s with { ShmPath = "" }));
        Assert.Equal("tmpfs", At(own, "/dev/shm").Type);
        Assert.Contains("size=65536k", At(own, "/dev/shm").Options!);
    }

    [Fact]
    public void Privileged_gets_writable_sys_and_cgroup()
    {
        var spec = _f.Generate(WithSecurity(s => s with { Privileged = true }), sandbox: _f.Sandbox(privileged: true));
        Assert.Contains("rw", At(spec, "/sys").Options!);
        Assert.Contains("rw", At(spec, "/sys/fs/cgroup").Options!);
    }

    [Fact]
    public void Requested_mounts_are_rbinds_with_propagation_and_override_defaults()
    {
        var data = Directory.CreateDirectory(Path.Combine(_f.Root, "data")).FullName;
        var hosts = Path.Combine(_f.Root, "my-hosts");
        File.WriteAllText(hosts, "");
        var spec = _f.Generate(SpecFixture.Container(c => c with
        {
            Mounts =
            [
                new("/data/sub/", data, Propagation: MountPropagationMode.HostToContainer),
                new("/data", data, Readonly: true),
                new("/etc/hosts", hosts),
                new("/shared", data, Propagation: MountPropagationMode.Bidirectional),
            ],
        }));
        Assert.Equal(["rbind", "rslave", "rw"], At(spec, "/data/sub").Options);
        Assert.Equal(["rbind", "rprivate", "ro"], At(spec, "/data").Options);
        Assert.Equal(["rbind", "rshared", "rw"], At(spec, "/shared").Options);
        Assert.Equal("bind", At(spec, "/data").Type);
        Assert.Equal(hosts, At(spec, "/etc/hosts").Source);
        Assert.Equal("rshared", spec.Linux!.RootfsPropagation);

        var order = spec.Mounts!.Select(m => m.Destination).ToList();
        Assert.True(order.IndexOf("/data") < order.IndexOf("/data/sub"));
        Assert.True(order.IndexOf("/dev") < order.IndexOf("/dev/pts"));
        Assert.True(order.IndexOf("/sys") < order.IndexOf("/sys/fs/cgroup"));
    }

    [Fact]
    public void Host_to_container_alone_makes_the_rootfs_rslave()
    {
        var data = Directory.CreateDirectory(Path.Combine(_f.Root, "data")).FullName;
        var spec = _f.Generate(SpecFixture.Container(c => c with { Mounts = [new("/data", data, Propagation: MountPropagationMode.HostToContainer)] }));
        Assert.Equal("rslave", spec.Linux!.RootfsPropagation);
        Assert.Null(_f.Generate().Linux!.RootfsPropagation);
    }

    [Fact]
    public void A_requested_dev_mount_replaces_the_dev_defaults()
    {
        var dev = Directory.CreateDirectory(Path.Combine(_f.Root, "dev")).FullName;
        var spec = _f.Generate(SpecFixture.Container(c => c with { Mounts = [new("/dev", dev)] }));
        Assert.Equal("bind", At(spec, "/dev").Type);
        Assert.DoesNotContain(spec.Mounts!, m => m.Destination is "/dev/pts" or "/dev/shm" or "/dev/mqueue");
    }

    [Fact]
    public void Missing_host_path_is_an_error_and_is_not_created()
    {
        var missing = Path.Combine(_f.Root, "nope");
        var e = Assert.Throws<SpecException>(() => _f.Generate(SpecFixture.Container(c => c with { Mounts = [new("/data", missing)] })));
        Assert.Contains("host path", e.Message);
        Assert.Contains(missing, e.Message);
        Assert.Contains("does not exist", e.Message);
        Assert.Equal("mounts", e.Field);
        Assert.False(Path.Exists(missing));
    }

    [Fact]
    public void Recursive_read_only_uses_rro_and_needs_ro_and_private()
    {
        var data = Directory.CreateDirectory(Path.Combine(_f.Root, "data")).FullName;
        var spec = _f.Generate(SpecFixture.Container(c => c with { Mounts = [new("/data", data, Readonly: true, RecursiveReadOnly: true)] }));
        Assert.Equal(["rbind", "rprivate", "rro"], At(spec, "/data").Options);

        Assert.Throws<SpecException>(() => _f.Generate(SpecFixture.Container(c => c with { Mounts = [new("/data", data, RecursiveReadOnly: true)] })));
        Assert.Throws<SpecException>(() => _f.Generate(SpecFixture.Container(c => c with
        {
            Mounts = [new("/data", data, Readonly: true, RecursiveReadOnly: true, Propagation: MountPropagationMode.HostToContainer)],
        })));
    }

    // ---- namespaces and hostname ----

    // "new" stands for a namespace the runtime creates (no path).
    static string[] Ns(OciSpec spec, string type) => spec.Linux!.Namespaces!.Where(n => n.Type == type).Select(n => n.Path ?? "new").ToArray();

    [Fact]
    public void Pod_namespaces_are_joined_and_hostname_set()
    {
        var spec = _f.Generate();
        Assert.Equal(["new"], Ns(spec, "mount"));
        Assert.Equal(["/var/run/netns/cni-1"], Ns(spec, "network"));
        Assert.Equal(["/run/crisharp/ns/ipc-1"], Ns(spec, "ipc"));
        Assert.Equal(["/run/crisharp/ns/uts-1"], Ns(spec, "uts"));
        Assert.Equal(["new"], Ns(spec, "pid"));
        Assert.Empty(Ns(spec, "cgroup"));
        Assert.Equal("web-0", spec.Hostname);
    }

    [Fact]
    public void Node_modes_share_the_host_namespaces()
    {
        var spec = _f.Generate(
            WithSecurity(s => s with { Namespaces = new NamespaceModes(NamespaceMode.Node, NamespaceMode.Node, NamespaceMode.Node) }),
            sandbox: _f.Sandbox(s => PodModes(s with { NetNsPath = "", IpcNsPath = "", UtsNsPath = "", ShmPath = "", Spec = s.Spec with { Hostname = "" } },
                new NamespaceModes(NamespaceMode.Node, NamespaceMode.Node, NamespaceMode.Node))));
        Assert.Equal(["mount"], spec.Linux!.Namespaces!.Select(n => n.Type));
        Assert.Null(spec.Hostname);
        Assert.StartsWith("HOSTNAME=" + File.ReadAllText("/proc/sys/kernel/hostname").Trim(), spec.Process!.Env![1]);
    }

    [Fact]
    public void Network_and_ipc_follow_the_pod_even_when_the_container_leaves_them_out()
    {
        // critest's host-network web server: the container config has no namespace options at all.
        var spec = _f.Generate(WithSecurity(s => s with { Namespaces = new NamespaceModes() }),
            sandbox: _f.Sandbox(s => PodModes(s with { NetNsPath = "", UtsNsPath = "" }, new NamespaceModes(Network: NamespaceMode.Node))));
        Assert.Empty(Ns(spec, "network"));
        Assert.Empty(Ns(spec, "uts"));
        Assert.Equal(["/run/crisharp/ns/ipc-1"], Ns(spec, "ipc"));
    }

    internal static PodSandbox PodModes(PodSandbox s, NamespaceModes modes) =>
        s with { Spec = s.Spec with { Security = s.Spec.Security with { Namespaces = modes } } };

    [Fact]
    public void Pod_and_target_pid_join_the_given_namespace()
    {
        var pod = _f.Generate(WithSecurity(s => s with { Namespaces = new NamespaceModes(Pid: NamespaceMode.Pod) }), pidNs: "/proc/42/ns/pid");
        Assert.Equal(["/proc/42/ns/pid"], Ns(pod, "pid"));
        var target = _f.Generate(WithSecurity(s => s with { Namespaces = new NamespaceModes(Pid: NamespaceMode.Target, TargetId: "c0") }), pidNs: "/proc/43/ns/pid");
        Assert.Equal(["/proc/43/ns/pid"], Ns(target, "pid"));
        Assert.Throws<SpecException>(() => _f.Generate(WithSecurity(s => s with { Namespaces = new NamespaceModes(Pid: NamespaceMode.Pod) })));
    }

    [Fact]
    public void Cgroup_namespace_only_on_cgroup_v2()
    {
        Assert.Equal(["new"], Ns(_f.Generate(host: SpecFixture.V2Host), "cgroup"));
    }

    [Fact]
    public void Pod_without_pinned_namespaces_gets_private_ones()
    {
        var spec = _f.Generate(sandbox: _f.Sandbox(s => s with { NetNsPath = "", IpcNsPath = "", UtsNsPath = "" }));
        Assert.Equal(["new"], Ns(spec, "network"));
        Assert.Equal(["new"], Ns(spec, "ipc"));
        Assert.Equal(["new"], Ns(spec, "uts"));
    }

    // ---- resources and devices ----

    [Fact]
    public void Resources_map_to_linux_resources()
    {
        var resources = new ResourceSpec
        {
            CpuShares = 512, CpuQuota = 50000, CpuPeriod = 100000, CpusetCpus = "0-1", CpusetMems = "0",
            MemoryLimitInBytes = 64 << 20, HugepageLimits = [new("2MB", 4 << 21)], Unified = new() { ["memory.high"] = "1000000" },
        };
        var container = SpecFixture.Container(c => c with { Resources = resources });
        var v1 = _f.Generate(container).Linux!.Resources!;
        Assert.Equal((512UL, 50000L, 100000UL, "0-1", "0"), (v1.Cpu!.Shares, v1.Cpu.Quota, v1.Cpu.Period, v1.Cpu.Cpus, v1.Cpu.Mems));
        Assert.Equal(64L << 20, v1.Memory!.Limit);
        Assert.Null(v1.Memory.Swap);
        Assert.Equal("2MB", Assert.Single(v1.HugepageLimits!).PageSize);
        Assert.Null(v1.Unified);
        Assert.Null(v1.Pids);

        var v2 = _f.Generate(container with { Resources = resources with { MemorySwapLimitInBytes = 128 << 20 } }, host: SpecFixture.V2Host).Linux!.Resources!;
        Assert.Equal("1000000", v2.Unified!["memory.high"]);
        Assert.Equal(128L << 20, v2.Memory!.Swap);

        var noHugetlb = _f.Generate(container, host: SpecFixture.V1Host with { HugetlbController = false }).Linux!.Resources!;
        Assert.Null(noHugetlb.HugepageLimits);

        Assert.Null(_f.Generate().Linux!.Resources!.Cpu);
        Assert.Null(_f.Generate().Linux!.Resources!.Memory);
    }

    [Fact]
    public void Unprivileged_devices_deny_all_then_allow_defaults_and_requested()
    {
        var spec = _f.Generate(SpecFixture.Container(c => c with { Devices = [new("/dev/mynull", "/dev/null", "rw")] }));
        var rules = spec.Linux!.Resources!.Devices!;
        Assert.False(rules[0].Allow);
        Assert.Equal("rwm", rules[0].Access);
        Assert.Contains(rules, r => r.Allow && r.Type == "c" && r.Major == 136 && r.Minor is null);
        var device = Assert.Single(spec.Linux.Devices!);
        Assert.Equal(("c", "/dev/mynull", 1L, 3L), (device.Type, device.Path, device.Major, device.Minor));
        Assert.Equal(Convert.ToUInt32("666", 8), device.FileMode);
        var last = rules[^1];
        Assert.Equal((true, "c", 1L, 3L, "rw"), (last.Allow, last.Type, last.Major, last.Minor, last.Access));
    }

    [Fact]
    public void Device_problems_are_errors()
    {
        var missing = Assert.Throws<SpecException>(() => _f.Generate(SpecFixture.Container(c => c with { Devices = [new("/dev/x", "/dev/does-not-exist", "rwm")] })));
        Assert.Contains("/dev/does-not-exist", missing.Message);
        Assert.Equal("devices", missing.Field);
        Assert.Throws<SpecException>(() => _f.Generate(SpecFixture.Container(c => c with { Devices = [new("/dev/x", "/dev/null", "rwx")] })));
        Assert.Throws<SpecException>(() => _f.Generate(SpecFixture.Container(c => c with { Devices = [new("/dev/x", "/etc/passwd", "r")] })));
    }

    [Fact]
    public void Privileged_allows_all_devices_and_gets_the_hosts()
    {
        var spec = _f.Generate(WithSecurity(s => s with { Privileged = true }), sandbox: _f.Sandbox(privileged: true));
        var rule = Assert.Single(spec.Linux!.Resources!.Devices!);
        Assert.Equal((true, "rwm", (string?)null), (rule.Allow, rule.Access, rule.Type));
        Assert.Contains(spec.Linux.Devices!, d => d.Path == "/dev/null" && d.Major == 1 && d.Minor == 3);
        Assert.DoesNotContain(spec.Linux.Devices!, d => d.Path.StartsWith("/dev/pts/", StringComparison.Ordinal) || d.Path == "/dev/console");
    }

    // ---- annotations and JSON ----

    [Fact]
    public void Annotations_carry_the_request_and_cri_keys()
    {
        var spec = _f.Generate(SpecFixture.Container(c => c with { Annotations = new() { ["a"] = "b" } }));
        Assert.Equal("b", spec.Annotations!["a"]);
        Assert.Equal("container", spec.Annotations["io.kubernetes.cri.container-type"]);
        Assert.Equal("sb1", spec.Annotations["io.kubernetes.cri.sandbox-id"]);
        Assert.Equal("/kubepods/pod1/c1", spec.Linux!.CgroupsPath);
    }

    [Fact]
    public void Json_uses_the_spec_key_names_and_omits_nulls()
    {
        var spec = _f.Generate(SpecFixture.Container(c => c with
        {
            Resources = new ResourceSpec { OomScoreAdj = -5, MemoryLimitInBytes = 1 << 20 },
            Security = c.Security with { NoNewPrivs = true, Seccomp = new(ProfileKind.RuntimeDefault) },
        }));
        var json = spec.ToJson();
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal(OciDefaults.OciVersion, root.GetProperty("ociVersion").GetString());
        var process = root.GetProperty("process");
        Assert.True(process.GetProperty("noNewPrivileges").GetBoolean());
        Assert.Equal(-5, process.GetProperty("oomScoreAdj").GetInt32());
        Assert.Equal(0u, process.GetProperty("user").GetProperty("uid").GetUInt32());
        Assert.True(process.GetProperty("user").TryGetProperty("additionalGids", out _));
        Assert.True(process.GetProperty("capabilities").TryGetProperty("bounding", out _));
        Assert.False(process.TryGetProperty("apparmorProfile", out _));
        Assert.False(process.TryGetProperty("selinuxLabel", out _));
        var linux = root.GetProperty("linux");
        Assert.Equal("/kubepods/pod1/c1", linux.GetProperty("cgroupsPath").GetString());
        Assert.True(linux.TryGetProperty("maskedPaths", out _));
        Assert.True(linux.TryGetProperty("readonlyPaths", out _));
        Assert.Equal(1, linux.GetProperty("seccomp").GetProperty("defaultErrnoRet").GetInt32());
        Assert.Equal(1 << 20, linux.GetProperty("resources").GetProperty("memory").GetProperty("limit").GetInt64());
        Assert.True(root.GetProperty("root").TryGetProperty("path", out _));
        Assert.False(linux.TryGetProperty("mountLabel", out _));
        var text = Encoding.UTF8.GetString(json);
        Assert.DoesNotContain(": null", text);

        var back = OciSpec.FromJson(json);
        Assert.Equal(spec.Process!.Args, back.Process!.Args);
        Assert.Equal(spec.Mounts!.Select(m => m.Destination), back.Mounts!.Select(m => m.Destination));
        Assert.Equal(spec.Linux!.Seccomp!.Syscalls!.Count, back.Linux!.Seccomp!.Syscalls!.Count);
        Assert.Equal(json, back.ToJson());
    }

    [Fact]
    public void Id_mapping_keys_are_spelled_as_the_spec_spells_them()
    {
        var spec = new OciSpec { Linux = new OciLinux { UidMappings = [new OciIdMapping { ContainerId = 0, HostId = 100000, Size = 65536 }] } };
        var text = Encoding.UTF8.GetString(spec.ToJson());
        Assert.Contains("\"containerID\"", text);
        Assert.Contains("\"hostID\"", text);
        Assert.Contains("\"uidMappings\"", text);
    }
}

/// <summary>Runs generated specs under the real runc and crun: a busybox rootfs reports its identity, capabilities and seccomp mode.</summary>
public sealed class OciSpecRuntimeTests : IDisposable
{
    readonly SpecFixture _f = new();
    readonly string _id = "crisharp-test-" + Guid.NewGuid().ToString("N")[..12];

    public void Dispose()
    {
        // The runtime removes its cgroups on exit; a failed run may leave them, and rmdir is how cgroups go.
        foreach (var hierarchy in Directory.EnumerateDirectories("/sys/fs/cgroup"))
        {
            var dir = Path.Combine(hierarchy, _id);
            if (Directory.Exists(dir))
                try { Directory.Delete(dir); }
                catch (IOException) { }
        }
        _f.Dispose();
    }

    [Theory]
    [InlineData("runc", "0")]
    [InlineData("crun", "0")]
    [InlineData("runc", "app")]
    [InlineData("crun", "app")]
    public async Task Runtime_runs_the_generated_spec(string runtime, string user)
    {
        if (runtime == "crun") await EnsureHugetlbHierarchyAsync();
        Directory.CreateDirectory(Path.Combine(_f.Rootfs, "bin"));
        File.Copy("/bin/busybox", Path.Combine(_f.Rootfs, "bin/busybox"));
        var data = Directory.CreateDirectory(Path.Combine(_f.Root, "data")).FullName;
        var container = SpecFixture.Container(c => c with
        {
            Command = ["/bin/busybox", "sh", "-c",
                "id; cat /proc/self/status | grep -E 'CapEff|NoNewPrivs|Seccomp'; /bin/busybox touch /data/x 2>/dev/null || echo data-is-readonly"],
            Mounts = [new("/data", data, Readonly: true, RecursiveReadOnly: true)],
            Security = new SecuritySpec
            {
                NoNewPrivs = true,
                Seccomp = new(ProfileKind.RuntimeDefault),
                Namespaces = new NamespaceModes(NamespaceMode.Node, NamespaceMode.Container, NamespaceMode.Node),
            },
        });
        var sandbox = _f.Sandbox(s => OciSpecGeneratorTests.PodModes(s with { NetNsPath = "", IpcNsPath = "", UtsNsPath = "", ShmPath = "" }, container.Security.Namespaces));
        // Host facts are probed for real here: the cgroup layout and rlimits are what runc and crun will meet.
        var input = new SpecInput(container, sandbox, SpecFixture.Image(new ImageRunConfig { User = user }), _f.Rootfs, "/" + _id, null, _id);
        var spec = OciSpecGenerator.Generate(input);

        var bundle = Directory.CreateDirectory(Path.Combine(_f.Root, "bundle")).FullName;
        File.WriteAllBytes(Path.Combine(bundle, "config.json"), spec.ToJson());
        var state = Directory.CreateDirectory(Path.Combine(_f.Root, "state")).FullName;
        string[] args = ["--root", state, "run", "--bundle", bundle, _id];
        var result = await ProcessRunner.RunAsync(runtime, args, TimeSpan.FromSeconds(60), CancellationToken.None);
        Assert.True(result.ExitCode == 0, $"{runtime} exited {result.ExitCode}: {result.Stderr}\n{result.Stdout}");

        var output = result.Stdout;
        if (user == "0")
        {
            Assert.Contains("uid=0(root) gid=0(root)", output);
            Assert.Matches(@"CapEff:\s+00000000a80425fb", output);
        }
        else
        {
            Assert.Contains("uid=1000(app) gid=1000(app)", output);
            Assert.Contains("video", output);
            Assert.Matches(@"CapEff:\s+0000000000000000", output);
        }
        Assert.Matches(@"NoNewPrivs:\s+1", output);
        Assert.Matches(@"Seccomp:\s+2", output);
        Assert.Contains("data-is-readonly", output);
        Assert.False(File.Exists(Path.Combine(data, "x")));
    }

    /// <summary>
    /// crun 1.8 on a hybrid cgroup host wants a v1 hierarchy for every v1 controller the kernel has, and this
    /// test host does not mount hugetlb; mount it (once, only when missing) the way a systemd host would.
    /// </summary>
    static async Task EnsureHugetlbHierarchyAsync()
    {
        const string dir = "/sys/fs/cgroup/hugetlb";
        if (File.Exists("/sys/fs/cgroup/cgroup.controllers") || Directory.Exists(dir)) return;
        if (!File.ReadAllLines("/proc/cgroups").Any(l => l.StartsWith("hugetlb\t", StringComparison.Ordinal) && l.EndsWith("\t1", StringComparison.Ordinal))) return;
        Directory.CreateDirectory(dir);
        var result = await ProcessRunner.RunAsync("mount", ["-t", "cgroup", "-o", "hugetlb", "cgroup", dir], TimeSpan.FromSeconds(10), CancellationToken.None);
        // Another test process may have mounted it at the same moment; only a missing hierarchy is a problem.
        if (result.ExitCode != 0 && !File.Exists(Path.Combine(dir, "tasks"))) result.ThrowIfFailed("mount the hugetlb cgroup hierarchy");
    }
}
