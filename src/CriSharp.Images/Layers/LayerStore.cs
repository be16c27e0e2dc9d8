using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using CriSharp.Images.Content;
using CriSharp.State;

namespace CriSharp.Images.Layers;

/// <summary>
/// Unpacked layers under root/layers/&lt;chain-id hex&gt;/ (an overlay lowerdir each). A layer is unpacked
/// once per chain id into a temp dir and renamed into place when complete, so a crash never leaves a
/// half-unpacked layer under its final name.
/// </summary>
public sealed class LayerStore
{
    readonly string _dir;
    readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new();

    public LayerStore(string root)
    {
        _dir = StateLayout.Layers(root);
        Directory.CreateDirectory(_dir);
    }

    public string Dir => _dir;

    public string PathOf(Digest chainId) => Path.Combine(_dir, chainId.Hex);

    public bool Has(Digest chainId) => Directory.Exists(PathOf(chainId));

    public IEnumerable<Digest> List() =>
        Directory.EnumerateDirectories(_dir).Select(Path.GetFileName).Where(n => n!.Length == 64).Select(n => new Digest(n!));

    /// <summary>chain(0) = diff(0); chain(n) = sha256(chain(n-1) + " " + diff(n)), as the OCI image spec defines.</summary>
    public static IReadOnlyList<Digest> ChainIds(IReadOnlyList<Digest> diffIds)
    {
        var chain = new List<Digest>(diffIds.Count);
        foreach (var diff in diffIds)
            chain.Add(chain.Count == 0 ? diff : Digest.Of(Encoding.ASCII.GetBytes($"{chain[^1]} {diff}")));
        return chain;
    }

    /// <summary>
    /// Unpacks <paramref name="blobPath"/> as the layer <paramref name="chainId"/> unless it exists, checking
    /// the uncompressed digest against <paramref name="diffId"/>. Returns the layer directory.
    /// </summary>
    public async Task<string> EnsureAsync(Digest chainId, Digest diffId, string blobPath, string mediaType, CancellationToken ct)
    {
        var final = PathOf(chainId);
        if (Directory.Exists(final)) return final;
        var gate = _locks.GetOrAdd(chainId.Hex, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            if (Directory.Exists(final)) return final;
            var temp = Path.Combine(_dir, $".tmp-{chainId.Hex[..12]}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}");
            var actual = await LayerUnpacker.UnpackAsync(blobPath, mediaType, temp, ct);
            if (actual != diffId)
            {
                Directory.Delete(temp, recursive: true);
                throw new BlobVerificationException($"layer {Path.GetFileName(blobPath)} unpacks to {actual}, but the image config's diff_id is {diffId}");
            }
            Directory.Move(temp, final);
            return final;
        }
        finally
        {
            gate.Release();
        }
    }

    public void Delete(Digest chainId)
    {
        var path = PathOf(chainId);
        if (!Directory.Exists(path)) return;
        // Rename first so a crash mid-delete leaves a temp dir (cleaned at start), never a partial layer.
        var doomed = Path.Combine(_dir, $".tmp-del-{chainId.Hex[..12]}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}");
        Directory.Move(path, doomed);
        DeleteTree(doomed);
    }

    /// <summary>Removes unpack and delete leftovers from a crash. Returns how many.</summary>
    public int RemoveLeftovers()
    {
        var n = 0;
        foreach (var d in Directory.EnumerateDirectories(_dir, ".tmp-*"))
        {
            DeleteTree(d);
            n++;
        }
        return n;
    }

    static void DeleteTree(string dir)
    {
        // Layers can hold read-only dirs and immutable-looking modes; root can delete them regardless.
        Directory.Delete(dir, recursive: true);
    }
}
