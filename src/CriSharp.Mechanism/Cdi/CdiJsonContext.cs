using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CriSharp.Mechanism.Cdi;

/// <summary>
/// Source-generated JSON for CDI specs (no reflection: the daemon is NativeAOT). Unknown keys and repeated keys
/// fail the load, as the reference loader (strict sigs.k8s.io/yaml) does.
/// </summary>
[JsonSourceGenerationOptions(
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    AllowDuplicateProperties = false,
    Converters = [typeof(CdiStringConverter)])]
[JsonSerializable(typeof(CdiSpec))]
internal sealed partial class CdiJsonContext : JsonSerializerContext;

/// <summary>
/// Strings as the reference loader reads them: a number or boolean where a string belongs becomes its text
/// (YAML `name: 0` is the device "0"), and null becomes "" (Go's zero value).
/// </summary>
internal sealed class CdiStringConverter : JsonConverter<string>
{
    public override bool HandleNull => true;

    public override string Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType switch
        {
            JsonTokenType.String => reader.GetString() ?? "",
            JsonTokenType.Number => Encoding.UTF8.GetString(reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan),
            JsonTokenType.True => "true",
            JsonTokenType.False => "false",
            JsonTokenType.Null => "",
            var other => throw new JsonException($"expected a string, found {other}"),
        };

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);

    public override string ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.GetString() ?? "";

    public override void WriteAsPropertyName(Utf8JsonWriter writer, string value, JsonSerializerOptions options) =>
        writer.WritePropertyName(value);
}
