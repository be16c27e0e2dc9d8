using Tomlyn.Model;
using Tomlyn.Serialization;

namespace CriSharp.Configuration;

/// <summary>Source-generated TOML metadata: the loader reads every file as a plain table, without reflection.</summary>
[TomlSerializable(typeof(TomlTable))]
internal sealed partial class ConfigTomlContext : TomlSerializerContext;
