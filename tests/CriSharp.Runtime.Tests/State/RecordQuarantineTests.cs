using CriSharp.Model;
using CriSharp.Runtime.Tests.Linux;
using CriSharp.State;

namespace CriSharp.Runtime.Tests.State;

public sealed class RecordQuarantineTests : IDisposable
{
    readonly TempDir _dir = new();

    string Records => Path.Combine(_dir.Path, "records", "sandboxes");

    RecordIndex<PodSandbox> Open() => RuntimeRecords.Sandboxes(_dir.Path);

    static PodSandbox Pod(string id) => new() { Id = id, RuntimeHandler = "runc", Dir = "/nonexistent", Spec = new SandboxSpec { Name = id, Namespace = "ns", Uid = id } };

    [Fact]
    public void Unreadable_records_are_moved_aside_with_their_reason_and_the_rest_load()
    {
        var index = Open();
        foreach (var id in new[] { "good", "garbage", "null", "foreign", "mode000" }) index.Put(Pod(id));
        File.WriteAllText(Path.Combine(Records, "garbage.json"), "{ not json");
        File.WriteAllText(Path.Combine(Records, "null.json"), "null");
        File.Copy(Path.Combine(Records, "good.json"), Path.Combine(Records, "foreign.json"), overwrite: true);
        File.SetUnixFileMode(Path.Combine(Records, "mode000.json"), UnixFileMode.None);

        var reported = new List<(string File, string Reason, QuarantinedRecord? Moved)>();
        var loaded = Open().Load((f, r, q) => reported.Add((f, r, q)));

        Assert.Equal(["good"], loaded.Select(p => p.Id));
        Assert.Equal(["foreign", "garbage", "mode000", "null"], reported.Select(r => Path.GetFileNameWithoutExtension(r.File)).Order());
        Assert.All(reported, r => Assert.NotNull(r.Moved));
        Assert.Equal(["good.json"], Directory.GetFiles(Records).Select(Path.GetFileName));
        var listed = Quarantine.Under(_dir.Path).List().ToDictionary(q => q.Id);
        Assert.Equal(4, listed.Count);
        Assert.All(listed.Values, q => Assert.Equal("sandboxes", q.Kind));
        Assert.Contains("null", listed["null"].Reason);
        Assert.Contains("mode 0000", listed["mode000"].Reason);
        Assert.Contains("'good'", listed["foreign"].Reason);
        Assert.Equal(Path.Combine(Records, "garbage.json"), listed["garbage"].From);
        Assert.Equal("{ not json", File.ReadAllText(listed["garbage"].File));
        Assert.Equal(listed.Keys.Order(), Open().QuarantinedIds().Order());
    }

    [Fact]
    public void A_second_bad_record_of_one_id_never_replaces_the_first_ones_evidence()
    {
        var index = Open();
        index.Put(Pod("twice"));
        File.WriteAllText(Path.Combine(Records, "twice.json"), "first");
        Open().Load((_, _, _) => { });
        index.Put(Pod("twice"));
        File.WriteAllText(Path.Combine(Records, "twice.json"), "second");
        Open().Load((_, _, _) => { });

        var entries = Quarantine.Under(_dir.Path).List("sandboxes");
        Assert.Equal(2, entries.Count);
        Assert.All(entries, e => Assert.Equal("twice", e.Id));
        Assert.Equal(["first", "second"], entries.Select(e => File.ReadAllText(e.File)).Order());
        Assert.Equal(["twice"], Open().QuarantinedIds());
    }

    public void Dispose() => _dir.Dispose();
}
