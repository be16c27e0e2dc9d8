using System.Text.Json.Serialization;
using CriSharp.Runtime.Containers;
using CriSharp.Runtime.Pods;

namespace CriSharp.Runtime;

/// <summary>Source-generated JSON for sandbox and container records.</summary>
[JsonSourceGenerationOptions(UseStringEnumConverter = true)]
[JsonSerializable(typeof(PodSandbox))]
[JsonSerializable(typeof(ContainerRecord))]
internal sealed partial class RuntimeJsonContext : JsonSerializerContext;
