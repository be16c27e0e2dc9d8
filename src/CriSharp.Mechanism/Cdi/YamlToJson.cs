using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CriSharp.Mechanism.Cdi;

/// <summary>
/// A one-document YAML file as a <see cref="JsonNode"/> tree, read with YamlDotNet's representation model only
/// (its reflection serializer is not AOT-safe). Plain scalars are typed as YAML 1.1 / sigs.k8s.io/yaml type them
/// (see <see cref="YamlScalars"/>); quoted and block scalars are strings. Anchors, aliases and tags other than the
/// core schema's are refused: a CDI spec has no use for them.
/// </summary>
internal static class YamlToJson
{
    const int MaxDepth = 64;
    const string CoreTagPrefix = "tag:yaml.org,2002:";

    /// <summary>The document's tree (null for an empty document); throws <see cref="FormatException"/> with the reason.</summary>
    public static JsonNode? Convert(string yaml)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (Exception e) when (e is YamlException or ArgumentException)
        {
            throw new FormatException($"invalid YAML: {e.Message}", e);
        }
        return stream.Documents.Count switch
        {
            0 => null,
            1 => Node(stream.Documents[0].RootNode, 0),
            var n => throw new FormatException($"the file holds {n} YAML documents; a CDI spec is one"),
        };
    }

    static JsonNode? Node(YamlNode node, int depth)
    {
        if (depth > MaxDepth) throw new FormatException($"{Where(node)}: nested more than {MaxDepth} levels");
        if (!node.Anchor.IsEmpty)
            throw new FormatException($"{Where(node)}: YAML anchors and aliases are not supported (&{node.Anchor.Value})");
        return node switch
        {
            YamlScalarNode scalar => Scalar(scalar),
            YamlSequenceNode sequence => Sequence(sequence, depth),
            YamlMappingNode mapping => Mapping(mapping, depth),
            _ => throw new FormatException($"{Where(node)}: unsupported YAML node {node.NodeType}"),
        };
    }

    static JsonArray Sequence(YamlSequenceNode sequence, int depth)
    {
        CheckTag(sequence, "seq");
        var array = new JsonArray();
        foreach (var child in sequence.Children) array.Add(Node(child, depth + 1));
        return array;
    }

    static JsonObject Mapping(YamlMappingNode mapping, int depth)
    {
        CheckTag(mapping, "map");
        var result = new JsonObject();
        foreach (var (keyNode, valueNode) in mapping.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key } || !keyNode.Anchor.IsEmpty)
                throw new FormatException($"{Where(keyNode)}: a mapping key must be a plain string");
            if (result.ContainsKey(key)) throw new FormatException($"{Where(keyNode)}: duplicate key \"{key}\"");
            result[key] = Node(valueNode, depth + 1);
        }
        return result;
    }

    static JsonNode? Scalar(YamlScalarNode scalar)
    {
        var text = scalar.Value ?? "";
        if (!scalar.Tag.IsEmpty)
        {
            var tag = scalar.Tag.Value;
            if (tag is "!" or CoreTagPrefix + "str") return JsonValue.Create(text);
            if (tag is not (CoreTagPrefix + "int" or CoreTagPrefix + "float" or CoreTagPrefix + "bool" or CoreTagPrefix + "null"))
                throw new FormatException($"{Where(scalar)}: unsupported YAML tag {tag}");
            return Typed(scalar, text);
        }
        return scalar.Style is ScalarStyle.Plain or ScalarStyle.Any ? Typed(scalar, text) : JsonValue.Create(text);
    }

    static JsonNode? Typed(YamlScalarNode scalar, string text)
    {
        try
        {
            return YamlScalars.Resolve(text);
        }
        catch (FormatException e)
        {
            throw new FormatException($"{Where(scalar)}: {e.Message}");
        }
    }

    static void CheckTag(YamlNode node, string kind)
    {
        if (!node.Tag.IsEmpty && node.Tag.Value != CoreTagPrefix + kind && node.Tag.Value != "!")
            throw new FormatException($"{Where(node)}: unsupported YAML tag {node.Tag.Value}");
    }

    static string Where(YamlNode node) => $"line {node.Start.Line}, column {node.Start.Column}";
}
