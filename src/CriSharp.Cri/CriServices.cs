using CriSharp.Configuration;
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
}
