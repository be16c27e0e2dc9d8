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
    readonly Func<T, string>? _idOf;

    /// <param name="quarantine">Where records that cannot be read are moved; without one they are only reported.</param>
    /// <param name="idOf">The record's own id, checked against its file name when given.</param>
    public RecordStore(string dir, JsonTypeInfo<T> type, Quarantine? quarantine = null, Func<T, string>? idOf = null)
    {
        _dir = dir;
        _type = type;
        _idOf = idOf;
        Quarantine = quarantine;
        Directory.CreateDirectory(dir);
        AtomicFile.RemoveLeftoverTemps(dir);
    }

    public string Dir => _dir;

    /// <summary>The records directory's name: the kind its quarantined records are filed under.</summary>
    public string Kind => Path.GetFileName(_dir.TrimEnd('/'));

    public Quarantine? Quarantine { get; }

    /// <summary>Ids whose records are in quarantine: what they own must be left alone.</summary>
    public IReadOnlySet<string> QuarantinedIds() => Quarantine?.Ids(Kind) ?? new HashSet<string>();

    /// <summary>Writes (creates or replaces) the record durably before returning.</summary>
    public void Put(string id, T record) => AtomicFile.Write(PathOf(id), JsonSerializer.SerializeToUtf8Bytes(record, _type));

    public T? Get(string id)
    {
        var path = PathOf(id);
        return File.Exists(path) ? JsonSerializer.Deserialize(File.ReadAllBytes(path), _type) : null;
    }

    /// <summary>Removes the record durably; false if it did not exist.</summary>
    public bool Delete(string id) => AtomicFile.Delete(PathOf(id));

    /// <summary>
    /// Every readable record. A file that cannot be read (garbage, <c>null</c>, a foreign id, no read permission)
    /// never stops a start: it is moved to quarantine (when the store has one) and reported.
    /// </summary>
    public IReadOnlyList<T> LoadAll(Action<string, string, QuarantinedRecord?>? onUnreadable = null)
    {
        var list = new List<T>();
        foreach (var f in Directory.EnumerateFiles(_dir, "*.json"))
        {
            string reason;
            try
            {
                reason = Read(f, out var record);
                if (record != null)
                {
                    list.Add(record);
                    continue;
                }
            }
            catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
            {
                reason = e.Message;
            }
            QuarantinedRecord? moved = null;
            try
            {
                moved = Quarantine?.Add(Kind, f, reason);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                reason += $" (could not be moved to quarantine: {e.Message})";
            }
            onUnreadable?.Invoke(f, reason, moved);
        }
        return list;
    }

    /// <summary>The record in <paramref name="file"/>, or null with the reason it cannot be trusted.</summary>
    string Read(string file, out T? record)
    {
        record = null;
        // Root reads a mode-000 file anyway; a record someone made unreadable to its owner is not one to act on.
        if ((File.GetUnixFileMode(file) & UnixFileMode.UserRead) == 0)
            return $"mode {Convert.ToString((int)File.GetUnixFileMode(file), 8).PadLeft(4, '0')} denies its owner read";
        var r = JsonSerializer.Deserialize(File.ReadAllBytes(file), _type);
        if (r == null) return "the file holds null, not a record";
        var expected = Path.GetFileNameWithoutExtension(file);
        if (_idOf != null && _idOf(r) != expected) return $"the record's id '{_idOf(r)}' is not its file name's '{expected}'";
        record = r;
        return "";
    }

    string PathOf(string id)
    {
        if (id.Length == 0 || id.Length > 200 || id.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')) || id.StartsWith('.'))
            throw new ArgumentException($"'{id}' is not a valid record id", nameof(id));
        return Path.Combine(_dir, id + ".json");
    }
}
