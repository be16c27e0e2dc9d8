using System.Text.Json.Serialization;

namespace CriSharp.Mechanism.Oci;

/// <summary>Source-generated JSON for config.json and seccomp profiles (no reflection, AOT-friendly).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(OciSpec))]
[JsonSerializable(typeof(OciSeccomp))]
[JsonSerializable(typeof(OciResources))]
public sealed partial class OciJsonContext : JsonSerializerContext;
