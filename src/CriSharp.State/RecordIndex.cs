using System.Collections.Concurrent;
using System.Text.Json.Serialization.Metadata;

namespace CriSharp.State;

/// <summary>
/// Durable records of one kind with an in-memory index: every change is written atomically to disk
/// before the in-memory view (and so any RPC answer) reflects it. Writes of one record are serialized by a
/// lock of its own, so writes of different records never wait on each other's fsync; the index itself is
/// only locked for the in-memory lookups and swaps.
/// </summary>
public sealed class RecordIndex<T> where T : class
{
    readonly RecordStore<T> _store;
    readonly Func<T, string> _id;
    readonly Dictionary<string, T> _items = new(StringComparer.Ordinal);
    readonly object _sync = new();
    readonly ConcurrentDictionary<string, object> _writeLocks = new(StringComparer.Ordinal);

    /// <summary>Raised after a record is put (created or changed) or removed (null).</summary>
    public event Action<string, T?>? Changed;

    public RecordIndex(string dir, JsonTypeInfo<T> type, Func<T, string> id, Quarantine? quarantine = null)
    {
        _store = new RecordStore<T>(dir, type, quarantine, id);
        _id = id;
    }

    /// <summary>The kind records of this index are filed under in quarantine.</summary>
    public string Kind => _store.Kind;

    /// <summary>Ids whose records are in quarantine: recovery never removes what they might own.</summary>
    public IReadOnlySet<string> QuarantinedIds() => _store.QuarantinedIds();

    public IReadOnlyList<T> Load(Action<string, string, QuarantinedRecord?> onUnreadable)
    {
        var all = _store.LoadAll(onUnreadable);
        lock (_sync)
            foreach (var r in all) _items[_id(r)] = r;
        return all;
    }

    public T? Get(string id)
    {
        lock (_sync) return _items.GetValueOrDefault(id);
    }

    public IReadOnlyList<T> All()
    {
        lock (_sync) return [.. _items.Values];
    }

    /// <summary>Finds by full id or unique prefix (crictl users type short ids).</summary>
    public T? Find(string idOrPrefix)
    {
        if (idOrPrefix.Length == 0) return null;
        lock (_sync)
        {
            if (_items.TryGetValue(idOrPrefix, out var exact)) return exact;
            var matches = _items.Where(kv => kv.Key.StartsWith(idOrPrefix, StringComparison.Ordinal)).Take(2).ToList();
            return matches.Count == 1 ? matches[0].Value : null;
        }
    }

    public void Put(T record)
    {
        var id = _id(record);
        WithWriteLock(id, () =>
        {
            _store.Put(id, record);
            lock (_sync) _items[id] = record;
        });
        Changed?.Invoke(id, record);
    }

    /// <summary>Applies <paramref name="change"/> to the current record and stores the result; null if absent.</summary>
    public T? Update(string id, Func<T, T> change)
    {
        T? next = null;
        WithWriteLock(id, () =>
        {
            T? current;
            lock (_sync) current = _items.GetValueOrDefault(id);
            if (current is null) return;
            next = change(current);
            _store.Put(id, next);
            lock (_sync) _items[id] = next;
        });
        if (next is not null) Changed?.Invoke(id, next);
        return next;
    }

    public bool Remove(string id)
    {
        var removed = false;
        WithWriteLock(id, () =>
        {
            lock (_sync) removed = _items.Remove(id);
            _store.Delete(id);
        });
        // Ids are never reused, so the record's lock goes with it.
        _writeLocks.TryRemove(id, out _);
        if (removed) Changed?.Invoke(id, null);
        return removed;
    }

    /// <summary>Runs <paramref name="write"/> holding the record's own lock (made on first use, dropped when the record is removed).</summary>
    void WithWriteLock(string id, Action write)
    {
        lock (_writeLocks.GetOrAdd(id, _ => new object())) write();
    }
}
