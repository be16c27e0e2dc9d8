using System.Buffers;
using System.Globalization;
using System.Text;

namespace CriSharp.Mechanism.Cgroups;

/// <summary>
/// Reads and parses the small text files of cgroupfs and procfs. Reads are one open + pread loop into a
/// pooled buffer (a stats list of 100 containers reads ~1000 of them); a file that vanished reads as null.
/// </summary>
public static class CgroupFiles
{
    /// <summary>Values above this are the kernel's "unlimited" (PAGE_COUNTER_MAX rounded), as cAdvisor treats them.</summary>
    public const ulong UnlimitedThreshold = 1UL << 62;

    /// <summary>The whole file as text, or null if it (or its cgroup) does not exist.</summary>
    public static string? Read(string path)
    {
        Microsoft.Win32.SafeHandles.SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Missing file or cgroup (ENOENT), or one being removed (ENODEV): nothing to read.
            return null;
        }
        using (handle)
        {
            var buf = ArrayPool<byte>.Shared.Rent(8192);
            try
            {
                int total = 0;
                while (true)
                {
                    if (total == buf.Length)
                    {
                        var bigger = ArrayPool<byte>.Shared.Rent(buf.Length * 2);
                        buf.AsSpan(0, total).CopyTo(bigger);
                        ArrayPool<byte>.Shared.Return(buf);
                        buf = bigger;
                    }
                    int n;
                    try
                    {
                        n = RandomAccess.Read(handle, buf.AsSpan(total), total);
                    }
                    catch (IOException)
                    {
                        // ENODEV and friends: the cgroup was removed between open and read.
                        return null;
                    }
                    if (n <= 0) break;
                    total += n;
                }
                return Encoding.ASCII.GetString(buf, 0, total);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buf);
            }
        }
    }

    /// <summary>A file holding one number ("max" reads as <see cref="ulong.MaxValue"/>), or null if absent or not a number.</summary>
    public static ulong? ReadULong(string path) => Read(path) is { } text ? ParseULong(text) : null;

    public static ulong? ParseULong(string text)
    {
        var t = text.AsSpan().Trim();
        if (t.SequenceEqual("max")) return ulong.MaxValue;
        if (ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var v)) return v;
        // v1 files may hold -1 for "no limit".
        if (long.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var s) && s < 0) return ulong.MaxValue;
        return null;
    }

    /// <summary>Limit semantics: unlimited (max, -1, or the kernel's huge page-rounded value) becomes 0.</summary>
    public static ulong Limit(ulong? value) => value is { } v && v < UnlimitedThreshold ? v : 0;

    /// <summary>"key value" lines (memory.stat, cpu.stat, memory.events, cpuacct.stat) into a dictionary.</summary>
    public static Dictionary<string, ulong> ParseKeyed(string? text)
    {
        var map = new Dictionary<string, ulong>(StringComparer.Ordinal);
        if (text == null) return map;
        foreach (var range in text.AsSpan().Split('\n'))
        {
            var line = text.AsSpan(range).Trim();
            var sp = line.IndexOf(' ');
            if (sp <= 0) continue;
            if (ulong.TryParse(line[(sp + 1)..].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var v))
                map[line[..sp].ToString()] = v;
        }
        return map;
    }

    /// <summary>A PSI file: "some avg10=0.00 avg60=0.00 avg300=0.00 total=123" and the same for "full".</summary>
    public static PressureStats? ParsePressure(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        PressureLine? some = null, full = null;
        foreach (var raw in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = raw.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 5) continue;
            double a10 = 0, a60 = 0, a300 = 0;
            ulong total = 0;
            foreach (var kv in parts.Skip(1))
            {
                var eq = kv.IndexOf('=');
                if (eq <= 0) continue;
                var value = kv[(eq + 1)..];
                switch (kv[..eq])
                {
                    case "avg10": double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out a10); break;
                    case "avg60": double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out a60); break;
                    case "avg300": double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out a300); break;
                    case "total": ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out total); break;
                }
            }
            var line = new PressureLine(a10, a60, a300, total);
            if (parts[0] == "some") some = line;
            else if (parts[0] == "full") full = line;
        }
        return some == null && full == null ? null : new PressureStats(some, full);
    }

    /// <summary>
    /// v1 blkio.*_recursive files: "8:0 Read 4096" lines (Read, Write, Sync, Async, Discard, Total) and a
    /// final "Total N"; <paramref name="bytes"/> is io_service_bytes, <paramref name="ops"/> io_serviced.
    /// </summary>
    public static IReadOnlyList<BlockDeviceIo> ParseBlkioV1(string? bytes, string? ops)
    {
        var devices = new SortedDictionary<(uint, uint), (ulong Rb, ulong Wb, ulong R, ulong W)>();
        void Add(string? text, bool isBytes)
        {
            if (text == null) return;
            foreach (var raw in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var parts = raw.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length != 3 || !TryDevice(parts[0], out var dev)) continue;
                if (!ulong.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var v)) continue;
                var cur = devices.GetValueOrDefault(dev);
                switch (parts[1], isBytes)
                {
                    case ("Read", true): cur.Rb = v; break;
                    case ("Write", true): cur.Wb = v; break;
                    case ("Read", false): cur.R = v; break;
                    case ("Write", false): cur.W = v; break;
                    default: continue;
                }
                devices[dev] = cur;
            }
        }
        Add(bytes, true);
        Add(ops, false);
        return [.. devices.Select(d => new BlockDeviceIo(d.Key.Item1, d.Key.Item2, d.Value.Rb, d.Value.Wb, d.Value.R, d.Value.W))];
    }

    /// <summary>v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per device.</summary>
    public static IReadOnlyList<BlockDeviceIo> ParseIoStatV2(string? text)
    {
        var list = new List<BlockDeviceIo>();
        if (text == null) return list;
        foreach (var raw in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = raw.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 2 || !TryDevice(parts[0], out var dev)) continue;
            ulong rb = 0, wb = 0, r = 0, w = 0;
            foreach (var kv in parts.Skip(1))
            {
                var eq = kv.IndexOf('=');
                if (eq <= 0 || !ulong.TryParse(kv.AsSpan(eq + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var v)) continue;
                switch (kv[..eq])
                {
                    case "rbytes": rb = v; break;
                    case "wbytes": wb = v; break;
                    case "rios": r = v; break;
                    case "wios": w = v; break;
                }
            }
            list.Add(new BlockDeviceIo(dev.Item1, dev.Item2, rb, wb, r, w));
        }
        return list;
    }

    static bool TryDevice(string s, out (uint, uint) dev)
    {
        dev = default;
        var colon = s.IndexOf(':');
        if (colon <= 0) return false;
        if (!uint.TryParse(s.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var major)) return false;
        if (!uint.TryParse(s.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var minor)) return false;
        dev = (major, minor);
        return true;
    }

    /// <summary>v2 cpu.max: "max 100000" or "20000 100000" → (quota µs, 0 = none; period µs).</summary>
    public static (ulong Quota, ulong Period) ParseCpuMax(string? text)
    {
        if (text == null) return (0, 0);
        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        ulong quota = 0, period = 0;
        if (parts.Length > 0 && parts[0] != "max") ulong.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out quota);
        if (parts.Length > 1) ulong.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out period);
        return (quota, period);
    }

    /// <summary>The inverse of runc's cpu.shares → cpu.weight mapping, as cAdvisor reports shares on v2.</summary>
    public static ulong WeightToShares(ulong weight) => weight == 0 ? 0 : 2 + (weight - 1) * 262142 / 9999;

    /// <summary>Number of non-empty lines (cgroup.procs, tasks).</summary>
    public static int CountLines(string? text)
    {
        if (text == null) return 0;
        int n = 0;
        foreach (var range in text.AsSpan().Split('\n'))
            if (!text.AsSpan(range).Trim().IsEmpty) n++;
        return n;
    }

    /// <summary>The pids listed in cgroup.procs.</summary>
    public static List<int> ParsePids(string? text)
    {
        var pids = new List<int>();
        if (text == null) return pids;
        foreach (var range in text.AsSpan().Split('\n'))
            if (int.TryParse(text.AsSpan(range).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0)
                pids.Add(pid);
        return pids;
    }
}
