using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

using CriSharp.Mechanism.Processes;
using CriSharp.Model;

namespace CriSharp.Mechanism.Oci;

/// <summary>What the OCI runtime reports for one container (`runc state`).</summary>
public sealed record OciState(string Status /* creating|created|running|stopped|paused */, int Pid, string Bundle);

/// <summary>
/// Drives one OCI runtime handler (runc or crun) through its command line, with its own state root.
/// Container creation goes through <see cref="Monitor.ConmonMonitor"/>, which runs `create` under conmon.
/// </summary>
public sealed class OciRuntime(string handlerName, string binaryPath, string rootDir, TimeSpan? commandTimeout = null) : IOciRuntime
{
    public string HandlerName { get; } = handlerName;
    public string BinaryPath { get; } = binaryPath;
    public string RootDir { get; } = rootDir;
    public TimeSpan CommandTimeout { get; } = commandTimeout ?? TimeSpan.FromSeconds(60);

    /// <summary>`start`: runs the user process of a created container.</summary>
    public async Task StartAsync(string id, CancellationToken ct = default) =>
        (await RunAsync(ct, "start", id).ConfigureAwait(false)).ThrowIfFailed($"{HandlerName}: start container {id}");

    /// <summary>`kill [--all] id signal`; a container that is already stopped or gone is not an error.</summary>
    public async Task KillAsync(string id, int signal, bool all, CancellationToken ct = default)
    {
        var sig = signal.ToString(CultureInfo.InvariantCulture);
        var result = all
            ? await RunAsync(ct, "kill", "--all", id, sig).ConfigureAwait(false)
            : await RunAsync(ct, "kill", id, sig).ConfigureAwait(false);
        if (result.ExitCode == 0) return;
        // runc and crun word "not running"/"does not exist" differently; ask the runtime what is true instead.
        var state = await StateAsync(id, ct).ConfigureAwait(false);
        if (state is null || state.Status == "stopped") return;
        result.ThrowIfFailed($"{HandlerName}: kill container {id} with signal {sig}");
    }

    /// <summary>`delete [--force] id`; a container that does not exist is not an error.</summary>
    public async Task DeleteAsync(string id, bool force, CancellationToken ct = default)
    {
        var result = force
            ? await RunAsync(ct, "delete", "--force", id).ConfigureAwait(false)
            : await RunAsync(ct, "delete", id).ConfigureAwait(false);
        if (result.ExitCode == 0) return;
        if (await StateAsync(id, ct).ConfigureAwait(false) is null) return;
        result.ThrowIfFailed($"{HandlerName}: delete container {id}");
    }

    /// <summary>`state id`, or null when the runtime does not know the container.</summary>
    public async Task<OciState?> StateAsync(string id, CancellationToken ct = default)
    {
        var result = await RunAsync(ct, "state", id).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            if (!Directory.Exists(Path.Combine(RootDir, id)) || LooksAbsent(result.Stderr)) return null;
            result.ThrowIfFailed($"{HandlerName}: state of container {id}");
        }
        var dto = Parse(result, OciCliJsonContext.Default.OciStateJson, $"state of container {id}");
        return new OciState(dto.Status ?? "unknown", dto.Pid, dto.Bundle ?? "");
    }

    /// <summary>`update --resources file id`: applies a runtime-spec LinuxResources JSON document.</summary>
    public async Task UpdateAsync(string id, string resourcesJsonPath, CancellationToken ct = default) =>
        (await RunAsync(ct, "update", "--resources", resourcesJsonPath, id).ConfigureAwait(false))
            .ThrowIfFailed($"{HandlerName}: update resources of container {id}");

    /// <summary>`list --format json`: the ids of every container under this runtime's root.</summary>
    public async Task<IReadOnlyList<string>> ListAsync(CancellationToken ct = default)
    {
        var result = (await RunAsync(ct, "list", "--format", "json").ConfigureAwait(false))
            .ThrowIfFailed($"{HandlerName}: list containers");
        // runc prints `null` for an empty list.
        if (string.IsNullOrWhiteSpace(result.Stdout) || result.Stdout.Trim() == "null") return [];
        var items = Parse(result, OciCliJsonContext.Default.ListOciStateJson, "list containers");
        return items.Where(i => !string.IsNullOrEmpty(i.Id)).Select(i => i.Id!).ToArray();
    }

    /// <summary>The global arguments every invocation carries; conmon gets them as --runtime-arg.</summary>
    public IReadOnlyList<string> GlobalArgs => ["--root", RootDir];

    /// <summary>
    /// A handler whose binary went away is unavailable, not broken: callers (recovery above all) tell it apart.
    /// Every use of the binary (commands, exec, conmon's create) checks first.
    /// </summary>
    public void EnsureAvailable()
    {
        if (!File.Exists(BinaryPath)) throw new HandlerUnavailableException(HandlerName, $"{BinaryPath} is missing");
    }

    Task<ProcessResult> RunAsync(CancellationToken ct, params string[] args)
    {
        EnsureAvailable();
        return ProcessRunner.RunAsync(BinaryPath, [.. GlobalArgs, .. args], CommandTimeout, ct);
    }

    static bool LooksAbsent(string stderr) =>
        stderr.Contains("does not exist", StringComparison.OrdinalIgnoreCase) ||
        stderr.Contains("No such file or directory", StringComparison.OrdinalIgnoreCase);

    T Parse<T>(ProcessResult result, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, string what)
    {
        try
        {
            return JsonSerializer.Deserialize(result.Stdout, type)
                   ?? throw new JsonException("empty document");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{HandlerName}: {what}: unreadable JSON from {BinaryPath}: {e.Message}", e);
        }
    }
}

/// <summary>The fields of runc/crun `state` and `list --format json` output that CriSharp reads.</summary>
internal sealed class OciStateJson
{
    [JsonPropertyName("id")] public string? Id { get; set; }
    [JsonPropertyName("pid")] public int Pid { get; set; }
    [JsonPropertyName("status")] public string? Status { get; set; }
    [JsonPropertyName("bundle")] public string? Bundle { get; set; }
}

[JsonSerializable(typeof(OciStateJson))]
[JsonSerializable(typeof(List<OciStateJson>))]
internal sealed partial class OciCliJsonContext : JsonSerializerContext;
