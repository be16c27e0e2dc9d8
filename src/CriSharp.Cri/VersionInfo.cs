using System.Reflection;

namespace CriSharp.Cri;

/// <summary>Version strings shared by the CLI and the Version RPC.</summary>
public static class VersionInfo
{
    public const string RuntimeName = "crisharp";
    public const string CriApiVersion = "v1";
    /// <summary>The kubelet-runtime API version string CRI runtimes report in VersionResponse.version.</summary>
    public const string KubeletApiVersion = "0.1.0";

    public static string RuntimeVersion { get; } =
        (typeof(VersionInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0")
        .Split('+')[0];
}
