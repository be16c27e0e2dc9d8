using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using CriSharp.Model;
using CriSharp.State;

namespace CriSharp.Runtime.Exec;

/// <summary>
/// The OCI process an exec runs: the container's own `process` from its config.json (user, groups, env, cwd,
/// capabilities, rlimits, no_new_privs, AppArmor/SELinux labels) with the exec's args and terminal flag.
/// runc and crun disagree on what `exec` inherits by default (crun ignores the container's cwd), so the full
/// process is always passed with `--process`. Each container's process is read once and kept in memory.
/// </summary>
public sealed class ExecProcessSpecs
{
    readonly ConcurrentDictionary<string, JsonDocument> _byContainer = new(StringComparer.Ordinal);

    public ExecProcessSpecs(RecordIndex<ContainerRecord> containers)
    {
        // Ids are never reused: a removed container's entry only has to be dropped to free it.
        containers.Changed += (id, record) =>
        {
            if (record is null) _byContainer.TryRemove(id, out _);
        };
    }

    /// <summary>The process JSON for running <paramref name="args"/> in <paramref name="container"/>.</summary>
    public byte[] Build(ContainerRecord container, IReadOnlyList<string> args, bool tty)
    {
        var process = _byContainer.GetOrAdd(container.Id, _ => Load(container)).RootElement;
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            foreach (var p in process.EnumerateObject())
            {
                if (p.NameEquals("args") || p.NameEquals("terminal") || p.NameEquals("consoleSize")) continue;
                p.WriteTo(w);
            }
            w.WriteBoolean("terminal", tty);
            w.WriteStartArray("args");
            foreach (var a in args) w.WriteStringValue(a);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Writes the process JSON next to the bundle under a fresh name; the caller deletes it when the exec has started or ended.</summary>
    public string WriteFile(ContainerRecord container, IReadOnlyList<string> args, bool tty)
    {
        var path = Path.Combine(container.BundleDir, "exec-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)) + ".json");
        File.WriteAllBytes(path, Build(container, args, tty));
        return path;
    }

    static JsonDocument Load(ContainerRecord container)
    {
        var config = Path.Combine(container.BundleDir, "config.json");
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(config);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new WrongStateException($"container {container.Id} has no readable OCI config ({config}): {e.Message}");
        }
        using var doc = JsonDocument.Parse(bytes);
        if (!doc.RootElement.TryGetProperty("process", out var process) || process.ValueKind != JsonValueKind.Object)
            throw new WrongStateException($"container {container.Id}: {config} has no process to base an exec on");
        return JsonDocument.Parse(process.GetRawText());
    }
}
