using System.Collections.Concurrent;
using CriSharp.Mechanism.Monitor;
using CriSharp.Mechanism.Oci;
using CriSharp.Model;

namespace CriSharp.Runtime.Tests.Fakes;

/// <summary>
/// An OCI runtime that runs nothing: it answers `state` from <see cref="States"/>, records every kill and delete, and
/// lets a test decide what a signal does (typically: write the exit file conmon would write).
/// </summary>
sealed class FakeOciRuntime(string handler) : IOciRuntime
{
    public ConcurrentDictionary<string, OciState> States { get; } = new();
    public ConcurrentQueue<(string Id, int Signal, bool All)> Kills { get; } = new();
    public ConcurrentQueue<string> Deletes { get; } = new();
    public Func<string, int, Task>? OnKill { get; set; }
    public bool BinaryMissing { get; set; }

    public string HandlerName => handler;
    public string BinaryPath => "/nonexistent/" + handler;
    public string RootDir => "/nonexistent/" + handler + "-root";
    public IReadOnlyList<string> GlobalArgs => ["--root", RootDir];

    public Task StartAsync(string id, CancellationToken ct = default)
    {
        EnsureAvailable();
        States[id] = new OciState("running", 4242, "");
        return Task.CompletedTask;
    }

    public async Task KillAsync(string id, int signal, bool all, CancellationToken ct = default)
    {
        EnsureAvailable();
        Kills.Enqueue((id, signal, all));
        if (OnKill != null) await OnKill(id, signal);
    }

    public Task DeleteAsync(string id, bool force, CancellationToken ct = default)
    {
        EnsureAvailable();
        Deletes.Enqueue(id);
        States.TryRemove(id, out _);
        return Task.CompletedTask;
    }

    public Task<OciState?> StateAsync(string id, CancellationToken ct = default)
    {
        EnsureAvailable();
        return Task.FromResult(States.TryGetValue(id, out var s) ? s : null);
    }

    public Task UpdateAsync(string id, string resourcesJsonPath, CancellationToken ct = default) => Task.CompletedTask;

    public Task<IReadOnlyList<string>> ListAsync(CancellationToken ct = default) =>
        Task.FromResult<IReadOnlyList<string>>([.. States.Keys]);

    public void EnsureAvailable()
    {
        if (BinaryMissing) throw new HandlerUnavailableException(handler, $"{BinaryPath} is missing");
    }
}

/// <summary>One fake handler under its name; any other name is not configured.</summary>
sealed class FakeOciRuntimes(FakeOciRuntime runtime) : IOciRuntimes
{
    public IOciRuntime For(string handler) => handler == runtime.HandlerName
        ? runtime : throw new HandlerUnavailableException(handler, "it is no longer configured");

    public IEnumerable<IOciRuntime> All() => [runtime];
}

/// <summary>A monitor with real exit and attach dirs that never launches anything (creates are not under test).</summary>
sealed class FakeMonitor(string stateDir) : IContainerMonitor
{
    public string ExitDir { get; } = Directory.CreateDirectory(Path.Combine(stateDir, "exits")).FullName;
    public string AttachDir { get; } = Directory.CreateDirectory(Path.Combine(stateDir, "a")).FullName;

    /// <summary>What conmon does when the container's process ends: its exit code, as text, in a file named by the id.</summary>
    public void WriteExit(string id, int code)
    {
        var tmp = Path.Combine(ExitDir, "." + id);
        File.WriteAllText(tmp, code.ToString(System.Globalization.CultureInfo.InvariantCulture));
        File.Move(tmp, Path.Combine(ExitDir, id), overwrite: true);
    }

    public Task<ContainerProcess> CreateAsync(ContainerLaunch request, CancellationToken ct = default) =>
        throw new NotSupportedException("FakeMonitor does not create containers");

    public Task ReopenLogAsync(string bundle, string logPath, CancellationToken ct = default) => Task.CompletedTask;
}
