using System.Text.Json.Serialization;

namespace CriSharp.Runtime.Oci;

/// <summary>Source-generated JSON for config.json and seccomp profiles (no reflection, AOT-friendly).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(OciSpec))]
[JsonSerializable(typeof(OciSeccomp))]
[JsonSerializable(typeof(OciResources))]
internal sealed partial class OciJsonContext : JsonSerializerContext;
