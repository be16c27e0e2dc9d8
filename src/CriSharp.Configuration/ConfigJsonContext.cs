using System.Text.Json.Serialization;

namespace CriSharp.Configuration;

/// <summary>Source-generated JSON for the config (Status verbose info), so no reflection is needed.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(DaemonConfig))]
[JsonSerializable(typeof(string[]))]
public sealed partial class ConfigJsonContext : JsonSerializerContext;
