using CriSharp.Configuration;
using CriSharp.Images;
using CriSharp.Images.Content;
using CriSharp.Images.Layers;
using CriSharp.Images.Registry;
using CriSharp.Network;
using CriSharp.Runtime;
using Microsoft.Extensions.DependencyInjection;

namespace CriSharp.Cri;

/// <summary>Registers the CRI façade and the engine services it calls.</summary>
public static class CriServices
{
    /// <summary>Kubelet's grpc client allows 16 MiB messages; accept the same.</summary>
    public const int MaxMessageBytes = 16 * 1024 * 1024;

    public static IServiceCollection AddCri(this IServiceCollection services, LiveConfig config, Serilog.ILogger logger)
    {
        services.AddSingleton(config);
        services.AddSingleton(logger);
        services.AddSingleton<RuntimeReadinessProbe>();
        services.AddSingleton<NetworkReadinessProbe>();
        services.AddSingleton<PodCidrState>();
        var root = config.Current.Root;
        services.AddSingleton(_ => new ContentStore(root));
        services.AddSingleton(_ => new LayerStore(root));
        services.AddSingleton(sp => new ImageStore(root, sp.GetRequiredService<ContentStore>(), sp.GetRequiredService<LayerStore>(), logger));
        services.AddSingleton(sp => new RegistryClient(config, logger));
        services.AddSingleton<ImagePuller>();
        services.AddSingleton<ImageFsUsage>();
        services.AddSingleton<CallLoggingInterceptor>();
        services.AddGrpc(o =>
        {
            o.Interceptors.Add<CallLoggingInterceptor>();
            o.MaxReceiveMessageSize = MaxMessageBytes;
            o.MaxSendMessageSize = MaxMessageBytes;
            o.EnableDetailedErrors = true;
        });
        return services;
    }

    /// <summary>Rebuilds in-memory state from disk before the socket accepts calls.</summary>
    public static void Recover(IServiceProvider services)
    {
        services.GetRequiredService<ImageStore>().Recover();
    }
}
