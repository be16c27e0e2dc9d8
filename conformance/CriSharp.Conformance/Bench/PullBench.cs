using System.Diagnostics;
using System.Globalization;
using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;
using Grpc.Core;

namespace CriSharp.Conformance.Bench;

/// <summary>
/// <c>cri-conformance bench-pull</c>: cold PullImage timings against any CRI endpoint (used by
/// <c>hack/bench-pull.sh</c>). Before every run the image is removed through CRI and each
/// <c>--empty-dir</c> (the runtime's blob and layer/snapshot directories) must hold no file, so
/// every pull really downloads and unpacks everything.
/// </summary>
public static class PullBench
{
    public const string Usage = """
        usage: cri-conformance bench-pull --endpoint unix:///path.sock --image REF [--runs N] [--empty-dir DIR]... [--timeout-seconds N]

          --image            image to pull (fully qualified)
          --runs             number of cold pulls (default 5)
          --empty-dir        a directory that must contain no files once the image is removed (repeatable);
                             waited for up to 60 s, else the bench fails (content kept after RemoveImage)
          --timeout-seconds  per-pull timeout (default 900)
        prints one line per run, then "median_seconds=X"
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        if (!BenchOptions.TryParse<Options>(args, "bench-pull", Usage, out var o, out var exitCode))
        {
            return exitCode;
        }

        var endpoint = Endpoint.Parse(o.Endpoint);
        using var channel = endpoint.CreateChannel();
        var images = new ImageService.ImageServiceClient(channel);
        var timeout = TimeSpan.FromSeconds(o.TimeoutSeconds);
        var times = new List<double>();
        try
        {
            for (var run = 1; run <= o.Runs; run++)
            {
                await RemoveAndVerifyAsync(images, o.Image, o.EmptyDirs);
                var sw = Stopwatch.StartNew();
                var r = await images.PullImageAsync(
                    new PullImageRequest { Image = new ImageSpec { Image = o.Image } }, deadline: DateTime.UtcNow + timeout);
                sw.Stop();
                times.Add(sw.Elapsed.TotalSeconds);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"run {run}: {sw.Elapsed.TotalSeconds:F3} s ({r.ImageRef})"));
            }

            await RemoveAndVerifyAsync(images, o.Image, o.EmptyDirs);
        }
        catch (Exception e) when (e is RpcException or BenchException)
        {
            Console.Error.WriteLine($"cri-conformance bench-pull: {BenchSupport.Describe(e)}");
            return 1;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"median_seconds={BenchSupport.Median(times):F3}"));
        return 0;
    }

    private static async Task RemoveAndVerifyAsync(ImageService.ImageServiceClient images, string image, List<string> emptyDirs)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        var status = await images.ImageStatusAsync(new ImageStatusRequest { Image = new ImageSpec { Image = image } }, deadline: deadline);
        if (status.Image is { } found)
        {
            await images.RemoveImageAsync(new RemoveImageRequest { Image = new ImageSpec { Image = found.Id } }, deadline: deadline);
        }

        var listed = await images.ListImagesAsync(new ListImagesRequest(), deadline: deadline);
        if (listed.Images.Any(i => i.RepoTags.Contains(image)))
        {
            throw new BenchException($"{image} still listed after RemoveImage");
        }

        var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        foreach (var dir in emptyDirs)
        {
            while (FileCount(dir) is var n and > 0)
            {
                if (DateTime.UtcNow > until)
                {
                    throw new BenchException($"{dir} still holds {n} files 60 s after RemoveImage({image}): the runtime kept its content");
                }

                await Task.Delay(200);
            }
        }
    }

    private static int FileCount(string dir) => Directory.Exists(dir)
        ? Directory.EnumerateFiles(dir, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = 0 }).Count()
        : 0;

    private sealed class Options() : BenchOptions(defaultTimeoutSeconds: 900)
    {
        public int Runs { get; private set; } = 5;

        public List<string> EmptyDirs { get; } = [];

        protected override bool ParseOption(string name, Func<string> value)
        {
            switch (name)
            {
                case "--runs": Runs = PositiveInt(value(), "--runs"); return true;
                case "--empty-dir": EmptyDirs.Add(value()); return true;
                default: return base.ParseOption(name, value);
            }
        }
    }
}
