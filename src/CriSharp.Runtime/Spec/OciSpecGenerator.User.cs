using System.Globalization;
using CriSharp.Linux;
using CriSharp.Model;

namespace CriSharp.Runtime.Spec;

/// <summary>OCI spec generation: user and groups.</summary>
public static partial class OciSpecGenerator
{
    internal sealed record ResolvedUser(uint Uid, uint Gid, List<uint> AdditionalGids);

    /// <summary>
    /// run_as_username, else run_as_user, else the image's User ("name", "uid", "uid:gid", "name:group"),
    /// resolved against the image's own /etc/passwd and /etc/group; run_as_group then replaces the gid.
    /// </summary>
    internal static ResolvedUser ResolveUser(string rootfs, SecuritySpec security, string? imageUser)
    {
        // kubelet's rule (and CRI-O's): a group without a user would run as the image's user with a foreign group.
        if (security.RunAsGroup is not null && security.RunAsUser is null && security.RunAsUsername.Length == 0)
            throw new SpecException("linux.security_context.run_as_group", "run_as_group is set without run_as_user or run_as_username");
        var db = new RootfsUserDatabase(rootfs);
        uint uid, gid;
        string? name;
        if (security.RunAsUsername.Length > 0)
        {
            var entry = db.UserByName(security.RunAsUsername)
                ?? throw new SpecException("linux.security_context.run_as_username", $"user \"{security.RunAsUsername}\" not found in the image's /etc/passwd");
            (uid, gid, name) = (entry.Uid, entry.Gid, entry.Name);
        }
        else if (security.RunAsUser is { } runAsUser)
        {
            uid = CheckId(runAsUser, "linux.security_context.run_as_user");
            var entry = db.UserById(uid);
            (gid, name) = (entry?.Gid ?? 0, entry?.Name);
        }
        else
        {
            const string field = "image.user";
            var spec = imageUser ?? "";
            var colon = spec.IndexOf(':');
            var userPart = colon < 0 ? spec : spec[..colon];
            var groupPart = colon < 0 ? null : spec[(colon + 1)..];
            if (userPart.Length == 0) userPart = "0";
            if (uint.TryParse(userPart, NumberStyles.None, CultureInfo.InvariantCulture, out uid))
            {
                var entry = db.UserById(uid);
                (gid, name) = (entry?.Gid ?? 0, entry?.Name);
            }
            else
            {
                var entry = db.UserByName(userPart)
                    ?? throw new SpecException(field, $"image user \"{userPart}\" not found in the image's /etc/passwd");
                (uid, gid, name) = (entry.Uid, entry.Gid, entry.Name);
            }
            if (!string.IsNullOrEmpty(groupPart))
            {
                if (!uint.TryParse(groupPart, NumberStyles.None, CultureInfo.InvariantCulture, out gid))
                    gid = db.GroupByName(groupPart)?.Gid
                        ?? throw new SpecException(field, $"image group \"{groupPart}\" not found in the image's /etc/group");
            }
        }
        if (security.RunAsGroup is { } runAsGroup) gid = CheckId(runAsGroup, "linux.security_context.run_as_group");

        // The primary gid comes first, as containerd does, so `id -G` shows it too.
        var groups = new List<uint> { gid };
        if (security.SupplementalGroupsPolicy == SupplementalGroupsPolicy.Merge && name is not null)
            groups.AddRange(db.GroupsWithMember(name));
        groups.AddRange(security.SupplementalGroups.Select(g => CheckId(g, "linux.security_context.supplemental_groups")));
        return new ResolvedUser(uid, gid, groups.Distinct().ToList());
    }

    static uint CheckId(long id, string field) => id is >= 0 and < uint.MaxValue
        ? (uint)id : throw new SpecException(field, $"id {id} is out of range");

    /// <summary>The image's /etc/passwd and /etc/group, read without letting a symlink lead outside the rootfs.</summary>
    sealed class RootfsUserDatabase(string rootfs)
    {
        public sealed record User(string Name, uint Uid, uint Gid);
        public sealed record Group(string Name, uint Gid, string[] Members);

        List<User>? users;
        List<Group>? groups;

        public User? UserByName(string name) => Users().FirstOrDefault(u => u.Name == name);
        public User? UserById(uint uid) => Users().FirstOrDefault(u => u.Uid == uid);
        public Group? GroupByName(string name) => Groups().FirstOrDefault(g => g.Name == name);
        public IEnumerable<uint> GroupsWithMember(string user) => Groups().Where(g => g.Members.Contains(user)).Select(g => g.Gid);

        List<User> Users() => users ??= [.. ReadLines("etc/passwd").Select(f => f.Length >= 4 && TryId(f[2], out var u) && TryId(f[3], out var g)
            ? new User(f[0], u, g) : null).OfType<User>()];

        List<Group> Groups() => groups ??= [.. ReadLines("etc/group").Select(f => f.Length >= 3 && TryId(f[2], out var g)
            ? new Group(f[0], g, f.Length > 3 ? f[3].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [])
            : null).OfType<Group>()];

        static bool TryId(string text, out uint id) => uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out id);

        /// <summary>The colon-separated fields of each entry; a missing file has none.</summary>
        IEnumerable<string[]> ReadLines(string relative)
        {
            var path = RootedPath.Resolve(rootfs, relative);
            if (FileSystem.GetKind(path) != FileKind.Regular) return [];
            return File.ReadAllLines(path)
                .Where(l => l.Length > 0 && !l.StartsWith('#'))
                .Select(l => l.Split(':'));
        }
    }
}
