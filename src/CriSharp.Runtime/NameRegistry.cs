namespace CriSharp.Runtime;

/// <summary>What a reserved create did: made the object, joined a create in flight, or found one that exists.</summary>
public enum CreateOutcome { Created, JoinedInFlight, AlreadyExists }

/// <summary>
/// Reserves names (one object per name) and lets a retried create find the call still working on it:
/// the retry awaits the first call's result instead of failing with "name is reserved". The create runs on no
/// caller's token, so a caller that gives up (a client deadline) stops waiting without stopping it; for each caller
/// that gave up, the next create of the same name (kubelet's retry) is handed the result instead of AlreadyExists.
/// </summary>
public sealed class NameRegistry
{
    sealed class InFlight
    {
        public Task<string> Task = null!;
        public int GaveUp;
        public bool Done;
    }

    readonly object _sync = new();
    readonly Dictionary<string, string> _owners = new(StringComparer.Ordinal);
    readonly Dictionary<string, InFlight> _inFlight = new(StringComparer.Ordinal);
    // name → (id, how many retries still get it instead of AlreadyExists)
    readonly Dictionary<string, (string Id, int Left)> _handovers = new(StringComparer.Ordinal);

    /// <summary>Marks a name as taken by an existing id (used when loading records).</summary>
    public void Claim(string name, string id)
    {
        lock (_sync) _owners[name] = id;
    }

    public void Release(string name, string id)
    {
        lock (_sync)
        {
            if (_owners.TryGetValue(name, out var owner) && owner == id) _owners.Remove(name);
            if (_handovers.TryGetValue(name, out var h) && h.Id == id) _handovers.Remove(name);
        }
    }

    public string? OwnerOf(string name)
    {
        lock (_sync) return _owners.GetValueOrDefault(name);
    }

    /// <summary>
    /// Runs <paramref name="create"/> for a free name. If another create for the same name is in flight, awaits it
    /// and returns its id (a kubelet retry); so does the retry of a caller that gave up on a create. Otherwise, if an
    /// object already owns the name, returns (existingId, AlreadyExists). <paramref name="caller"/> only ends this
    /// caller's wait.
    /// </summary>
    public async Task<(string Id, CreateOutcome Outcome)> CreateAsync(string name, Func<Task<string>> create, CancellationToken caller = default)
    {
        InFlight? entry;
        bool mine = false;
        lock (_sync)
        {
            if (_owners.TryGetValue(name, out var owner))
            {
                if (!_handovers.TryGetValue(name, out var h) || h.Id != owner) return (owner, CreateOutcome.AlreadyExists);
                if (h.Left > 1) _handovers[name] = (h.Id, h.Left - 1);
                else _handovers.Remove(name);
                return (owner, CreateOutcome.JoinedInFlight);
            }
            if (!_inFlight.TryGetValue(name, out entry))
            {
                entry = new InFlight();
                _inFlight[name] = entry;
                entry.Task = RunAsync(name, entry, create);
                mine = true;
            }
        }
        try
        {
            var id = await entry.Task.WaitAsync(caller).ConfigureAwait(false);
            // Finished just as the caller's deadline passed: the answer will not reach it, its retry will get it.
            if (caller.IsCancellationRequested)
                lock (_sync) AddHandover(name, id, 1);
            return (id, mine ? CreateOutcome.Created : CreateOutcome.JoinedInFlight);
        }
        catch (OperationCanceledException) when (caller.IsCancellationRequested)
        {
            lock (_sync)
            {
                entry.GaveUp++;
                if (entry.Done && entry.Task.IsCompletedSuccessfully) AddHandover(name, entry.Task.Result, 1);
            }
            throw;
        }
    }

    void AddHandover(string name, string id, int count) =>
        _handovers[name] = (id, (_handovers.TryGetValue(name, out var h) && h.Id == id ? h.Left : 0) + count);

    async Task<string> RunAsync(string name, InFlight entry, Func<Task<string>> create)
    {
        await Task.Yield(); // never inside the caller's lock, never on its stack
        try
        {
            var id = await create().ConfigureAwait(false);
            lock (_sync)
            {
                _owners[name] = id;
                _inFlight.Remove(name);
                entry.Done = true;
                if (entry.GaveUp > 0) AddHandover(name, id, entry.GaveUp);
            }
            return id;
        }
        catch
        {
            lock (_sync)
            {
                _inFlight.Remove(name);
                entry.Done = true;
            }
            throw;
        }
    }
}
