using System.Text.Json.Serialization;
using CriSharp.Model;

namespace CriSharp.Runtime;

/// <summary>Source-generated JSON for sandbox and container records.</summary>
[JsonSourceGenerationOptions(UseStringEnumConverter = true)]
[JsonSerializable(typeof(PodSandbox))]
[JsonSerializable(typeof(ContainerRecord))]
internal sealed partial class RuntimeJsonContext : JsonSerializerContext;
