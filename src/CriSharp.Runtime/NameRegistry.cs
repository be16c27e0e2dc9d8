namespace CriSharp.Runtime;

/// <summary>What a reserved create did: made the object, joined a create in flight, or found one that exists.</summary>
public enum CreateOutcome { Created, JoinedInFlight, AlreadyExists }

/// <summary>
/// Reserves names (one object per name) and lets a retried create find the call still working on it:
/// the retry awaits the first call's result instead of failing with "name is reserved".
/// </summary>
public sealed class NameRegistry
{
    readonly object _sync = new();
    readonly Dictionary<string, string> _owners = new(StringComparer.Ordinal);
    readonly Dictionary<string, Task<string>> _inFlight = new(StringComparer.Ordinal);

    /// <summary>Marks a name as taken by an existing id (used when loading records).</summary>
    public void Claim(string name, string id)
    {
        lock (_sync) _owners[name] = id;
    }

    public void Release(string name, string id)
    {
        lock (_sync)
            if (_owners.TryGetValue(name, out var owner) && owner == id) _owners.Remove(name);
    }

    public string? OwnerOf(string name)
    {
        lock (_sync) return _owners.GetValueOrDefault(name);
    }

    /// <summary>
    /// Runs <paramref name="create"/> for a free name. If another create for the same name is in flight,
    /// awaits it and returns its id (a kubelet retry). If an object already owns the name, returns
    /// (existingId, AlreadyExists).
    /// </summary>
    public async Task<(string Id, CreateOutcome Outcome)> CreateAsync(string name, Func<Task<string>> create)
    {
        Task<string> task;
        TaskCompletionSource<string>? mine = null;
        lock (_sync)
        {
            if (_owners.TryGetValue(name, out var owner)) return (owner, CreateOutcome.AlreadyExists);
            if (!_inFlight.TryGetValue(name, out task!))
            {
                mine = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
                task = mine.Task;
                _inFlight[name] = task;
            }
        }
        if (mine == null) return (await task, CreateOutcome.JoinedInFlight);
        try
        {
            var id = await create();
            lock (_sync)
            {
                _owners[name] = id;
                _inFlight.Remove(name);
            }
            mine.SetResult(id);
            return (id, CreateOutcome.Created);
        }
        catch (Exception e)
        {
            lock (_sync) _inFlight.Remove(name);
            mine.SetException(e);
            throw;
        }
    }
}
