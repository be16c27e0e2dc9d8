using System.Diagnostics.Metrics;
using System.Globalization;

namespace CriSharp.State;

/// <summary>A record file the store could not read, kept aside with the reason.</summary>
/// <param name="Kind">The record kind: the name of the records directory it came from ("containers", "sandboxes", "images").</param>
/// <param name="Id">The id its file name gave it.</param>
/// <param name="File">Where it lies now.</param>
/// <param name="From">Where it was.</param>
/// <param name="At">When it was moved aside.</param>
/// <param name="Reason">Why it could not be read.</param>
public sealed record QuarantinedRecord(string Kind, string Id, string File, string From, DateTimeOffset At, string Reason);

/// <summary>
/// <c>&lt;root&gt;/quarantine/&lt;kind&gt;/</c>: record files that could not be read, each beside a <c>.reason</c> file.
/// Nothing is ever deleted here: an operator repairs a record and moves it back, or deletes the entry, and what
/// the record owned (mounts, processes, cgroups, network) stays untouched until then.
/// </summary>
public sealed class Quarantine(string dir)
{
    const string ReasonSuffix = ".reason";

    static readonly Meter Meter = new("CriSharp");

    /// <summary>Record files moved to quarantine; tag: kind.</summary>
    public static readonly Counter<long> Moved =
        Meter.CreateCounter<long>("crisharp.records.quarantined", description: "Record files that could not be read and were moved to quarantine.");

    public string Dir { get; } = dir;

    /// <summary>The quarantine directory under a root dir.</summary>
    public static Quarantine Under(string root) => new(StateLayout.Quarantine(root));

    /// <summary>Moves <paramref name="file"/> (a record of <paramref name="kind"/>) aside, durably, with the reason.</summary>
    public QuarantinedRecord Add(string kind, string file, string reason)
    {
        var kindDir = Path.Combine(Dir, kind);
        Directory.CreateDirectory(kindDir);
        var id = Path.GetFileNameWithoutExtension(file);
        var at = DateTimeOffset.UtcNow;
        var target = Path.Combine(kindDir, id + ".json");
        // A second bad record of the same id never replaces the first one's evidence.
        if (System.IO.File.Exists(target))
            target = Path.Combine(kindDir, $"{id}~{at:yyyyMMdd'T'HHmmssfff}.json");
        var text = $"from: {file}\nat: {at:O}\nreason: {reason.ReplaceLineEndings(" ")}\n";
        AtomicFile.Write(target + ReasonSuffix, System.Text.Encoding.UTF8.GetBytes(text));
        System.IO.File.Move(file, target);
        Linux.FileSystem.FsyncDirectory(kindDir);
        Linux.FileSystem.FsyncDirectory(Path.GetDirectoryName(file)!);
        Moved.Add(1, new KeyValuePair<string, object?>("kind", kind));
        return new QuarantinedRecord(kind, id, target, file, at, reason);
    }

    /// <summary>Ids of <paramref name="kind"/> with a record in quarantine: recovery must leave what they own alone.</summary>
    public IReadOnlySet<string> Ids(string kind) => List(kind).Select(r => r.Id).ToHashSet(StringComparer.Ordinal);

    /// <summary>Every quarantined record (of one kind, or of all), oldest first.</summary>
    public IReadOnlyList<QuarantinedRecord> List(string? kind = null)
    {
        if (!Directory.Exists(Dir)) return [];
        var kinds = kind != null ? [kind] : Directory.EnumerateDirectories(Dir).Select(Path.GetFileName).OfType<string>();
        var list = new List<QuarantinedRecord>();
        foreach (var k in kinds)
        {
            var kindDir = Path.Combine(Dir, k);
            if (!Directory.Exists(kindDir)) continue;
            foreach (var f in Directory.EnumerateFiles(kindDir, "*.json"))
            {
                var name = Path.GetFileNameWithoutExtension(f);
                var id = name.Split('~')[0];
                var (from, at, reason) = ReadReason(f + ReasonSuffix);
                list.Add(new QuarantinedRecord(k, id, f, from, at ?? new DateTimeOffset(System.IO.File.GetLastWriteTimeUtc(f), TimeSpan.Zero), reason));
            }
        }
        return [.. list.OrderBy(r => r.At)];
    }

    static (string From, DateTimeOffset? At, string Reason) ReadReason(string path)
    {
        string from = "", reason = "(no reason file)";
        DateTimeOffset? at = null;
        if (!System.IO.File.Exists(path)) return (from, at, reason);
        foreach (var line in System.IO.File.ReadAllLines(path))
        {
            var colon = line.IndexOf(": ", StringComparison.Ordinal);
            if (colon < 0) continue;
            var value = line[(colon + 2)..];
            switch (line[..colon])
            {
                case "from": from = value; break;
                case "reason": reason = value; break;
                case "at" when DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var t): at = t; break;
            }
        }
        return (from, at, reason);
    }
}
