using System.Text.Json.Serialization;

namespace CriSharp.Images;

/// <summary>Source-generated JSON for image records and configs (no reflection, AOT-friendly).</summary>
[JsonSourceGenerationOptions(WriteIndented = false)]
[JsonSerializable(typeof(ImageConfig))]
[JsonSerializable(typeof(ImageRecord))]
internal sealed partial class ImagesJsonContext : JsonSerializerContext;
