using CriSharp.Api.V1;
using CriSharp.Linux;
using Grpc.Core;

namespace CriSharp.Integration.Tests.Pods;

/// <summary>CDI devices (ContainerConfig.CDI_devices and cdi.k8s.io/ annotations) through the daemon, on both handlers.</summary>
public sealed partial class ContainerSpecTests
{
    string CdiStatic => Directory.CreateDirectory(Path.Combine(f.CdiRoot, "static")).FullName;
    string CdiDynamic => Directory.CreateDirectory(Path.Combine(f.CdiRoot, "dynamic")).FullName;

    /// <summary>Device nodes and a directory for one test: the host's /dev/null and /dev/loop-control numbers.</summary>
    string CdiHostDir(string name)
    {
        var dir = Directory.CreateDirectory(Path.Combine(f.CdiRoot, "host-" + name)).FullName;
        FileMetadata.Mknod(Path.Combine(dir, "null"), SpecialFileKind.CharDevice, 0x1B6 /* 0666 */, 1, 3);
        FileMetadata.Mknod(Path.Combine(dir, "loop-control"), SpecialFileKind.CharDevice, 0x180 /* 0600 */, 10, 237);
        Directory.CreateDirectory(Path.Combine(dir, "share"));
        File.WriteAllText(Path.Combine(dir, "share", "shared.txt"), "shared by the cdi spec\n");
        return dir;
    }

    static string JsonSpec(string kind, string host, string deviceEnv) => $$"""
        {
          "cdiVersion": "0.7.0",
          "kind": "{{kind}}",
          "containerEdits": { "env": ["CDI_SPEC_LEVEL=yes"] },
          "devices": [
            {
              "name": "null0",
              "containerEdits": {
                "env": ["CDI_DEVICE={{deviceEnv}}"],
                "deviceNodes": [ { "path": "/dev/crisharp-null", "hostPath": "{{host}}/null" } ],
                "mounts": [ { "hostPath": "{{host}}/share", "containerPath": "/cdi-share", "options": ["ro", "bind"] } ],
                "additionalGids": [4321]
              }
            }
          ]
        }
        """;

    static string YamlSpec(string kind, string host) => $"""
        cdiVersion: "0.6.0"
        kind: {kind}
        devices:
          - name: loop
            containerEdits:
              env:
                - CDI_YAML=loop
              deviceNodes:
                - path: /dev/crisharp-loop-control
                  hostPath: {host}/loop-control
                  permissions: rw
              hooks:
                - hookName: createRuntime
                  path: /bin/sh
                  args: ["sh", "-c", "touch {host}/hook-ran"]
        """;

    [Theory]
    [InlineData("runc")]
    [InlineData("crun")]
    public async Task Cdi_devices_from_json_and_yaml_specs_bring_their_nodes_env_mounts_and_groups(string handler)
    {
        var host = CdiHostDir(handler);
        var kind = $"crisharp.test/dev-{handler}";
        var yamlKind = $"crisharp.test/yaml-{handler}";
        var json = Path.Combine(CdiStatic, $"dev-{handler}.json");
        var yaml = Path.Combine(CdiDynamic, $"yaml-{handler}.yaml");
        File.WriteAllText(json, JsonSpec(kind, host, "first"));
        File.WriteAllText(yaml, YamlSpec(yamlKind, host));
        var pod = await RunPod("cdi", handler);
        try
        {
            const string script = """
                echo hi > /dev/crisharp-null && echo null-ok
                dd if=/dev/crisharp-loop-control of=/dev/null count=0 2>/dev/null && echo loop-ok
                mknod /dev/not-injected c 1 11 && { dd if=/dev/not-injected of=/dev/null count=0 2>/dev/null && echo not-injected-opened || echo not-injected-denied; }
                echo env=$CDI_DEVICE spec=$CDI_SPEC_LEVEL yaml=$CDI_YAML
                echo share=$(cat /cdi-share/shared.txt)
                touch /cdi-share/x 2>/dev/null || echo share-ro
                echo G=$(id -G)
                """;
            var c = Sh("cdi", script);
            c.CDIDevices.Add(new CDIDevice { Name = $"{kind}=null0" });
            c.CDIDevices.Add(new CDIDevice { Name = $"{yamlKind}=loop" });
            var output = (await RunAll(pod, c))["cdi"].Output;
            Assert.Contains("null-ok", output);
            Assert.Contains("loop-ok", output);
            // The device cgroup allows the injected nodes, not every node a container can make.
            Assert.Contains("not-injected-denied", output);
            Assert.Equal("first spec=yes yaml=loop", Field(output, "env="));
            Assert.Equal("shared by the cdi spec", Field(output, "share="));
            Assert.Contains("share-ro", output);
            Assert.Contains("4321", Field(output, "G=").Split(' '));
            Assert.True(File.Exists(Path.Combine(host, "hook-ran")), "the YAML device's createRuntime hook did not run");

            // A changed spec is read again, and the older cdi.k8s.io/ annotation asks for devices too.
            File.WriteAllText(json, JsonSpec(kind, host, "second"));
            var annotated = Sh("cdi-annotated", "echo env=$CDI_DEVICE; echo hi > /dev/crisharp-null && echo null-ok");
            annotated.Annotations[$"cdi.k8s.io/crisharp-test_{handler}"] = $"{kind}=null0";
            var second = (await RunAll(pod, annotated))["cdi-annotated"].Output;
            Assert.Equal("second", Field(second, "env="));
            Assert.Contains("null-ok", second);
        }
        finally
        {
            await RemovePod(pod);
            File.Delete(json);
            File.Delete(yaml);
        }
    }

    [Fact]
    public async Task Unknown_broken_and_malformed_cdi_devices_are_refused_naming_them_and_leave_nothing()
    {
        var broken = Path.Combine(CdiStatic, "broken.json");
        File.WriteAllText(broken, """{ "cdiVersion": "0.6.0", "kind": "crisharp.test/broken", "devices": [ { "name": "x", "containerEdits": { "env": ["A=1"] } } ], "extra": true""");
        var pod = await RunPod("cdi-bad", "runc");
        try
        {
            var before = Directory.GetDirectories(ContainersStateDir).ToHashSet();
            foreach (var (name, code, mentions) in new (string, StatusCode, string[])[]
            {
                ("crisharp.test/nothing=here", StatusCode.FailedPrecondition, ["crisharp.test/nothing=here", CdiStatic]),
                ("crisharp.test/broken=x", StatusCode.FailedPrecondition, ["crisharp.test/broken=x", broken]),
                ("not-a-cdi-name", StatusCode.InvalidArgument, ["not-a-cdi-name", "CDI_devices"]),
            })
            {
                var c = Sh("cdi-bad", "true");
                c.CDIDevices.Add(new CDIDevice { Name = name });
                var e = await Assert.ThrowsAsync<RpcException>(() => Rt.CreateContainerAsync(
                    new CreateContainerRequest { PodSandboxId = pod.Id, Config = c, SandboxConfig = pod.Config }).ResponseAsync);
                Assert.Equal(code, e.StatusCode);
                foreach (var m in mentions) Assert.Contains(m, e.Status.Detail);
            }
            Assert.Empty((await Rt.ListContainersAsync(new ListContainersRequest { Filter = new ContainerFilter { PodSandboxId = pod.Id } })).Containers);
            Assert.Equal(before, Directory.GetDirectories(ContainersStateDir).ToHashSet());
            Assert.DoesNotContain(MountsUnder(ContainersStateDir), p => !before.Any(b => p.StartsWith(b + "/", StringComparison.Ordinal)));
        }
        finally
        {
            await RemovePod(pod);
            File.Delete(broken);
        }
    }
}
