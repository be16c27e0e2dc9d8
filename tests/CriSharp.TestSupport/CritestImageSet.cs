using System.Diagnostics;

namespace CriSharp.TestSupport;

/// <summary>
/// Every image critest 1.36.0 pulls, built by our own code and pushed under its real registry path and tag
/// (what follows <c>registry.k8s.io/</c>, <c>gcr.io/</c> or <c>k8s.gcr.io/</c>). A runtime whose mirrors
/// map those registries to the test registry runs critest offline; the conformance cases that mirror
/// critest's specs pull the same paths. What each image must do is in <c>/work/shared/critest.md</c>'s
/// terms in README.md ("critest images").
/// </summary>
public static class CritestImageSet
{
    /// <summary>Where the C sources of the stand-in binaries are (copied next to the assembly).</summary>
    public static string SourceDir => Path.Combine(AppContext.BaseDirectory, "CritestImages");

    private static readonly Lazy<IReadOnlyList<(string Repository, string Tag, OciImage Image)>> All = new(Build);

    /// <summary>(repository, tag, image) for every critest image.</summary>
    public static IReadOnlyList<(string Repository, string Tag, OciImage Image)> Images => All.Value;

    /// <summary>Pushes them all; returns "repository:tag" → manifest digest.</summary>
    public static async Task<IReadOnlyDictionary<string, string>> PushAsync(Uri registry, RegistryCredentials? credentials, CancellationToken ct = default)
    {
        using var client = new RegistryClient(registry, credentials);
        var images = await Task.Run(() => Images, ct).ConfigureAwait(false);
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (repo, tag, image) in images)
        {
            await client.PushImageAsync(repo, image, [tag], ct).ConfigureAwait(false);
            result[$"{repo}:{tag}"] = image.Digest;
        }
        return result;
    }

    private static IReadOnlyList<(string, string, OciImage)> Build()
    {
        // critest's busybox: Debian's dynamic busybox (its sh execs /bin/ls instead of running a builtin), with
        // procps' pgrep and util-linux' ipcs, which Debian's busybox lacks. /bin/ls is a file of its own (upstream's
        // applets are hard links): critest masks /bin/ls and still runs sh.
        var busybox = TestImages.DynamicBusyboxLayer(["ls"], "/usr/bin/pgrep", "/usr/bin/ipcs").Build();
        OciImage OnBusybox(ImageConfig config, params LayerBuilder[] layers) =>
            OciImage.Create([busybox, .. layers.Select(l => l.Build())], config);

        var webServer = Compile("webserver.c");
        var nginx = new LayerBuilder().File("usr/sbin/nginx", webServer, 0x1ED).Directory("var/run");
        var nginxConfig = new ImageConfig { Cmd = ["nginx", "-g", "daemon off;"], StopSignal = "SIGQUIT" };
        var httpd = new LayerBuilder().File("usr/local/apache2/bin/httpd", webServer, 0x1ED);
        var nonewprivs = new LayerBuilder().File("usr/local/bin/nonewprivs", Compile("nonewprivs.c"), 0x9ED /* 04755, setuid root */);

        // Users: www-data 33, 1002/1003 by number only; the predefined-group image's user is in a group of the image.
        var users = new LayerBuilder()
            .File("etc/passwd", TestImages.RootPasswd + "www-data:x:33:33:www-data:/var/www:/bin/sh\n")
            .File("etc/group", TestImages.RootGroup + "www-data:x:33:\n");
        var predefinedGroup = new LayerBuilder()
            .File("etc/passwd", TestImages.RootPasswd + "default-user:x:1000:1000:default-user:/home/default-user:/bin/sh\n")
            .File("etc/group", TestImages.RootGroup + "default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n");
        OciImage Marked(string marker) => OnBusybox(new ImageConfig { Cmd = ["sh"] },
            new LayerBuilder().File("etc/crisharp-critest-image", marker + "\n"));

        var sameImageTags = Marked("test-image-tags");
        return
        [
            ("e2e-test-images/busybox", "1.29-2", OciImage.Create([busybox], new ImageConfig { Cmd = ["sh"] })),
            ("e2e-test-images/nginx", "1.14-2", OnBusybox(nginxConfig, nginx)),
            ("k8s-staging-cri-tools/hostnet-nginx-amd64", "latest",
                OnBusybox(nginxConfig with { Env = [ImageConfig.DefaultPath, "LISTEN=127.0.0.1:12003"] }, nginx)),
            ("e2e-test-images/httpd", "2.4.39-4", OnBusybox(new ImageConfig
            {
                Env = [ImageConfig.DefaultPath.Replace("PATH=", "PATH=/usr/local/apache2/bin:")],
                Cmd = ["httpd", "-D", "FOREGROUND"],
            }, httpd)),
            ("e2e-test-images/nonewprivs", "1.3", OnBusybox(new ImageConfig { Entrypoint = ["/usr/local/bin/nonewprivs"] }, nonewprivs)),
            ("k8s-staging-cri-tools/test-image-user-uid", "latest", OnBusybox(new ImageConfig { User = "1002", Cmd = ["sh"] }, users)),
            ("k8s-staging-cri-tools/test-image-user-username", "latest", OnBusybox(new ImageConfig { User = "www-data", Cmd = ["sh"] }, users)),
            ("k8s-staging-cri-tools/test-image-user-uid-group", "latest", OnBusybox(new ImageConfig { User = "1003:1004", Cmd = ["sh"] }, users)),
            ("k8s-staging-cri-tools/test-image-user-username-group", "latest", OnBusybox(new ImageConfig { User = "www-data:1004", Cmd = ["sh"] }, users)),
            ("k8s-staging-cri-tools/test-image-predefined-group", "latest", OnBusybox(new ImageConfig { User = "1000", Cmd = ["sh"] }, predefinedGroup)),
            ("k8s-staging-cri-tools/test-image-latest", "latest", Marked("test-image-latest")),
            ("k8s-staging-cri-tools/test-image-1", "latest", Marked("test-image-1")),
            ("k8s-staging-cri-tools/test-image-2", "latest", Marked("test-image-2")),
            ("k8s-staging-cri-tools/test-image-3", "latest", Marked("test-image-3")),
            ("k8s-staging-cri-tools/test-image-tag", "test", Marked("test-image-tag:test")),
            ("k8s-staging-cri-tools/test-image-tag", "all", Marked("test-image-tag:all")),
            ("k8s-staging-cri-tools/test-image-tags", "1", sameImageTags),
            ("k8s-staging-cri-tools/test-image-tags", "2", sameImageTags),
            ("k8s-staging-cri-tools/test-image-tags", "3", sameImageTags),
            ("pause", "3.9", TestImages.Get(TestImages.Pause)),
        ];
    }

    /// <summary>Compiles one of the stand-in programs statically (the images have no libc of their own to rely on).</summary>
    private static byte[] Compile(string source)
    {
        var src = Path.Combine(SourceDir, source);
        if (!File.Exists(src)) throw new InvalidOperationException($"{src} not found (copied to the output by CriSharp.TestSupport.csproj)");
        var output = Path.Combine(Directory.CreateTempSubdirectory("crisharp-critest-cc-").FullName, Path.GetFileNameWithoutExtension(source));
        try
        {
            var psi = new ProcessStartInfo("gcc") { RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "-static", "-O2", "-s", "-o", output, src }) psi.ArgumentList.Add(a);
            Process p;
            try { p = Process.Start(psi)!; }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new InvalidOperationException($"gcc not found ({e.Message}): the critest images need gcc and libc6-dev (hack/install-deps.sh)");
            }
            using (p)
            {
                var err = p.StandardError.ReadToEnd();
                p.WaitForExit();
                if (p.ExitCode != 0) throw new InvalidOperationException($"gcc -static {source} failed ({p.ExitCode}): {err}");
            }
            return File.ReadAllBytes(output);
        }
        finally { Directory.Delete(Path.GetDirectoryName(output)!, recursive: true); }
    }
}
