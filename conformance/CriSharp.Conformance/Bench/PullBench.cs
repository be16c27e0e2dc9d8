using System.Diagnostics;
using System.Globalization;
using CriSharp.Conformance.Framework;
using Grpc.Core;
using Runtime.V1;

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
        string? endpointArg = null, image = null;
        int runs = 5, timeoutSeconds = 900;
        var emptyDirs = new List<string>();
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--endpoint": endpointArg = Value(); break;
                    case "--image": image = Value(); break;
                    case "--runs": runs = PositiveInt(Value(), "--runs"); break;
                    case "--empty-dir": emptyDirs.Add(Value()); break;
                    case "--timeout-seconds": timeoutSeconds = PositiveInt(Value(), "--timeout-seconds"); break;
                    case "-h" or "--help": Console.WriteLine(Usage); return 0;
                    default: throw new ArgumentException($"unknown argument '{args[i]}'");
                }
            }

            if (endpointArg is null || image is null)
            {
                throw new ArgumentException("--endpoint and --image are required");
            }
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"cri-conformance bench-pull: {e.Message}");
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var endpoint = Endpoint.Parse(endpointArg);
        using var channel = endpoint.CreateChannel();
        var images = new ImageService.ImageServiceClient(channel);
        var timeout = TimeSpan.FromSeconds(timeoutSeconds);
        var times = new List<double>();
        try
        {
            for (var run = 1; run <= runs; run++)
            {
                await RemoveAndVerifyAsync(images, image, emptyDirs);
                var sw = Stopwatch.StartNew();
                var r = await images.PullImageAsync(
                    new PullImageRequest { Image = new ImageSpec { Image = image } }, deadline: DateTime.UtcNow + timeout);
                sw.Stop();
                times.Add(sw.Elapsed.TotalSeconds);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"run {run}: {sw.Elapsed.TotalSeconds:F3} s ({r.ImageRef})"));
            }

            await RemoveAndVerifyAsync(images, image, emptyDirs);
        }
        catch (Exception e) when (e is RpcException or BenchException)
        {
            Console.Error.WriteLine($"cri-conformance bench-pull: {(e is RpcException r ? $"{r.StatusCode}: {r.Status.Detail}" : e.Message)}");
            return 1;
        }

        times.Sort();
        var median = times.Count % 2 == 1 ? times[times.Count / 2] : (times[(times.Count / 2) - 1] + times[times.Count / 2]) / 2;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"median_seconds={median:F3}"));
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

    private static int PositiveInt(string v, string what) =>
        int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new ArgumentException($"{what}: '{v}' is not a positive integer");

    private sealed class BenchException(string message) : Exception(message);
}
