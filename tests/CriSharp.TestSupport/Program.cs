using System.Runtime.InteropServices;
using CriSharp.TestSupport;

return await TestEnvCli.RunAsync(args).ConfigureAwait(false);

namespace CriSharp.TestSupport
{
    /// <summary>
    /// crisharp-testenv registry --port P [--variant anonymous|basic|token] [--push-images] [--with-large]
    ///     (--push-images pushes the crisharp-test/ images and critest 1.36.0's images under their real paths)
    ///     [--user U] [--password P] [--allow-anonymous-pull]
    /// Runs a registry in the foreground until SIGTERM/SIGINT, printing "registry ready at 127.0.0.1:P".
    /// </summary>
    internal static class TestEnvCli
    {
        public const int DefaultPort = 5055;

        private const string Usage =
            "usage: crisharp-testenv registry [--port P (default 5055, 0 = free)] [--variant anonymous|basic|token]\n" +
            "                                 [--push-images] [--with-large] [--user U] [--password P] [--allow-anonymous-pull]";

        public static async Task<int> RunAsync(string[] args)
        {
            if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
            {
                Console.WriteLine(Usage);
                return args.Length == 0 ? 2 : 0;
            }
            if (args[0] != "registry")
            {
                Console.Error.WriteLine($"unknown command '{args[0]}'\n{Usage}");
                return 2;
            }

            int port = DefaultPort;
            var variant = RegistryVariant.Anonymous;
            bool push = false, large = false, anonPull = false;
            string user = RegistryFixture.DefaultUser, password = RegistryFixture.DefaultPassword;
            for (int i = 1; i < args.Length; i++)
            {
                string Value()
                {
                    if (i + 1 >= args.Length) throw new UsageException($"{args[i]} needs a value");
                    return args[++i];
                }
                try
                {
                    switch (args[i])
                    {
                        case "--port":
                            var v = Value();
                            if (!int.TryParse(v, out port) || port is < 0 or > 65535) throw new UsageException($"bad port '{v}'");
                            break;
                        case "--variant":
                            variant = Value() switch
                            {
                                "anonymous" => RegistryVariant.Anonymous,
                                "basic" => RegistryVariant.BasicAuth,
                                "token" => RegistryVariant.TokenAuth,
                                var x => throw new UsageException($"unknown variant '{x}'"),
                            };
                            break;
                        case "--push-images": push = true; break;
                        case "--with-large": large = true; push = true; break;
                        case "--user": user = Value(); break;
                        case "--password": password = Value(); break;
                        case "--allow-anonymous-pull": anonPull = true; break;
                        default: throw new UsageException($"unknown option '{args[i]}'");
                    }
                }
                catch (UsageException e)
                {
                    Console.Error.WriteLine($"{e.Message}\n{Usage}");
                    return 2;
                }
            }

            using var stop = new CancellationTokenSource();
            void OnSignal(PosixSignalContext ctx)
            {
                ctx.Cancel = true;
                stop.Cancel();
            }
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
            using var intr = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

            RegistryFixture? registry = null;
            try
            {
                registry = variant switch
                {
                    RegistryVariant.BasicAuth => await RegistryFixture.BasicAuth(port, user, password, stop.Token).ConfigureAwait(false),
                    RegistryVariant.TokenAuth => await RegistryFixture.TokenAuth(port, user, password, anonPull, ct: stop.Token).ConfigureAwait(false),
                    _ => await RegistryFixture.Anonymous(port, stop.Token).ConfigureAwait(false),
                };
                Console.WriteLine($"log {registry.LogPath}");
                if (registry.Credentials is { } c) Console.WriteLine($"credentials {c.User}:{c.Password}");
                if (registry.TokenServer is { } ts) Console.WriteLine($"token realm {ts.Realm}");
                if (push)
                {
                    var images = await TestImages.PushDefaultAsync(registry, large, stop.Token).ConfigureAwait(false);
                    foreach (var img in images.Values)
                        Console.WriteLine($"image {img.Reference} {img.ManifestDigest}");
                    // critest 1.36.0's images, under their real paths (mirror mode: hack/critest.sh).
                    foreach (var (reference, digest) in await CritestImageSet.PushAsync(registry.BaseUri, registry.Credentials, stop.Token).ConfigureAwait(false))
                        Console.WriteLine($"image {registry.Host}/{reference} {digest}");
                }
                Console.WriteLine($"registry ready at {registry.Host}");
                Console.Out.Flush();
                try { await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { }
                return 0;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return 0;
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"crisharp-testenv: {e.Message}");
                return 1;
            }
            finally
            {
                if (registry is not null) await registry.DisposeAsync().ConfigureAwait(false);
                Console.Error.WriteLine("crisharp-testenv: stopped");
            }
        }

        private sealed class UsageException(string message) : Exception(message);
    }
}
