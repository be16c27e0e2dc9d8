using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace CriSharp.State;

/// <summary>
/// Crash-safe records of one kind: a directory with one JSON file per id, each written atomically.
/// In-memory indexes are rebuilt from <see cref="LoadAll"/> on start.
/// </summary>
public sealed class RecordStore<T> where T : class
{
    readonly string _dir;
    readonly JsonTypeInfo<T> _type;

    public RecordStore(string dir, JsonTypeInfo<T> type)
    {
        _dir = dir;
        _type = type;
        Directory.CreateDirectory(dir);
        AtomicFile.RemoveLeftoverTemps(dir);
    }

    public string Dir => _dir;

    /// <summary>Writes (creates or replaces) the record durably before returning.</summary>
    public void Put(string id, T record) => AtomicFile.Write(PathOf(id), JsonSerializer.SerializeToUtf8Bytes(record, _type));

    public T? Get(string id)
    {
        var path = PathOf(id);
        return File.Exists(path) ? JsonSerializer.Deserialize(File.ReadAllBytes(path), _type) : null;
    }

    /// <summary>Removes the record durably; false if it did not exist.</summary>
    public bool Delete(string id) => AtomicFile.Delete(PathOf(id));

    /// <summary>Every readable record; unreadable files are reported, not thrown, so one bad file cannot stop a start.</summary>
    public IReadOnlyList<T> LoadAll(Action<string, Exception>? onCorrupt = null)
    {
        var list = new List<T>();
        foreach (var f in Directory.EnumerateFiles(_dir, "*.json"))
        {
            try
            {
                if (JsonSerializer.Deserialize(File.ReadAllBytes(f), _type) is { } r) list.Add(r);
            }
            catch (Exception e) when (e is JsonException or IOException)
            {
                onCorrupt?.Invoke(f, e);
            }
        }
        return list;
    }

    string PathOf(string id)
    {
        if (id.Length == 0 || id.Length > 200 || id.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')) || id.StartsWith('.'))
            throw new ArgumentException($"'{id}' is not a valid record id", nameof(id));
        return Path.Combine(_dir, id + ".json");
    }
}
