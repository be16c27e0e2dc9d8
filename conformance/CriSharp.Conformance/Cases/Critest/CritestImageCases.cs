using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;

namespace CriSharp.Conformance.Cases;

/// <summary>
/// critest 1.36.0 "Image Manager": pull and remove by tag and without a tag, a pull that outlives its deadline,
/// ImageStatus by every reference of an image, the image user fields, ListImages for three images and for one
/// image under three tags, and removal of all names of an image by one of them (also across two registries).
/// The digest spec is left out: it needs upstream's exact manifest bytes.
/// </summary>
[CaseArea("critest Image Manager")]
public sealed class CritestImageManagerCases
{
    [Case("public image with tag should be pulled and removed [Conformance]")]
    public async Task PullWithTag(CaseContext ctx)
    {
        var image = ctx.Image(CritestImages.ImageTagTest);
        await PullCheckRemoveAsync(ctx, image, s => Check.True(s.RepoTags.SequenceEqual([image]), $"repo_tags {Pods.Show(s.RepoTags)}, want [{image}]"));
    }

    [Case("public image should timeout if requested [Conformance]")]
    public async Task PullTimeout(CaseContext ctx)
    {
        var image = ctx.Image(CritestImages.ImageTagTest);
        if (await ctx.StatusAsync(image) is null)
        {
            // The runtime may finish the pull after the call gave up: pull it for real, then remove it.
            ctx.Defer($"undo a late pull of {image}", async ct =>
            {
                await ctx.Images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = image } }, cancellationToken: ct);
                await CritestImageSupport.RemoveIfPresentAsync(ctx, image, ct);
            });
        }

        var deadline = DateTime.UtcNow.AddMilliseconds(1);
        await Check.RpcFailsAsync(Grpc.Core.StatusCode.DeadlineExceeded, async () =>
                await ctx.Images.PullImageAsync(new PullImageRequest { Image = new ImageSpec { Image = image } },
                    new Grpc.Core.CallOptions(deadline: deadline, cancellationToken: ctx.CancellationToken)),
            $"PullImage({image}) with a 1 ms deadline");
    }

    [Case("public image without tag should be pulled and removed [Conformance]")]
    public async Task PullWithoutTag(CaseContext ctx)
    {
        var image = ctx.Image(CritestImages.ImageLatest[..CritestImages.ImageLatest.LastIndexOf(':')]);
        var tagged = image + ":latest";
        await PullCheckRemoveAsync(ctx, image, s => Check.True(s.RepoTags.SequenceEqual([tagged]), $"repo_tags {Pods.Show(s.RepoTags)}, want [{tagged}]"));
    }

    [Case("image status should support all kinds of references [Conformance]")]
    public async Task StatusAllReferences(CaseContext ctx)
    {
        var image = ctx.Image(CritestImages.ImageTagAll);
        await ctx.EnsureAbsentAsync(image);
        await ctx.CritestPullAsync(image);
        var status = Check.NotNull(await ctx.StatusAsync(image), $"ImageStatus({image}).image");
        foreach (var reference in status.RepoTags.Concat(status.RepoDigests).Prepend(status.Id))
        {
            var other = await ctx.StatusAsync(reference);
            Check.True(status.Equals(other), $"ImageStatus({reference}) is {other}, want the same as ImageStatus({image}): {status}");
        }

        await RemoveCheckAsync(ctx, image);
    }

    [Case("image status get image fields should not have Uid|Username empty [Conformance]")]
    public async Task StatusUser(CaseContext ctx)
    {
        foreach (var (what, path, uid, username) in new[]
        {
            ("UID only", CritestImages.UserUid, 1002L, ""),
            ("Username only", CritestImages.UserUsername, 0L, "www-data"),
            ("UID:group", CritestImages.UserUidGroup, 1003L, ""),
            ("Username:group", CritestImages.UserUsernameGroup, 0L, "www-data"),
        })
        {
            var image = ctx.Image(path);
            await ctx.CritestPullAsync(image);
            var status = Check.NotNull(await ctx.StatusAsync(image), $"ImageStatus({image}).image");
            Check.Equal(uid, status.Uid?.Value ?? 0, $"{what}: uid of {image}");
            Check.Equal(username, status.Username, $"{what}: username of {image}");
        }
    }

    [Case("listImage should get exactly 3 image in the result list [Conformance]")]
    public async Task ListThreeImages(CaseContext ctx)
    {
        var names = CritestImages.DifferentImages.Select(ctx.Image).ToList();
        var ids = await PullAllAsync(ctx, names);
        Check.Equal(3, ids.Count, "image ids returned by the pulls");
        var images = await ctx.ListAsync();
        for (var i = 0; i < ids.Count; i++)
        {
            var image = Check.NotNull(images.FirstOrDefault(x => x.Id == ids[i]), $"ListImages entry with id {ids[i]} ({names[i]})");
            Check.True(image.RepoTags.SequenceEqual([names[i]]), $"repo_tags of {ids[i]} are {Pods.Show(image.RepoTags)}, want exactly [{names[i]}]");
        }
    }

    [Case("listImage should get exactly 3 repoTags in the result image [Conformance]")]
    public async Task ListThreeTags(CaseContext ctx)
    {
        var names = CritestImages.SameImageTags.Select(ctx.Image).Order(StringComparer.Ordinal).ToList();
        var ids = (await PullAllAsync(ctx, names)).Distinct().ToList();
        Check.True(ids.Count == 1, $"the three tags were pulled as {ids.Count} image ids {Pods.Show(ids)}, want one");
        var image = Check.NotNull((await ctx.ListAsync()).FirstOrDefault(x => x.Id == ids[0]), $"ListImages entry with id {ids[0]}");
        var tags = image.RepoTags.Order(StringComparer.Ordinal).ToList();
        Check.True(tags.SequenceEqual(names), $"repo_tags of {ids[0]} are {Pods.Show(tags)}, want {Pods.Show(names)}");
    }

    [Case("removing image by one tag should remove all tags [Conformance]")]
    public async Task RemoveByOneTag(CaseContext ctx)
    {
        var names = CritestImages.SameImageTags.Select(ctx.Image).ToList();
        await PullAllAsync(ctx, names);
        await RemoveAllNamesAsync(ctx, names);
    }

    [Case("removing image from one registry should remove all tags from other registries [Conformance]")]
    public async Task RemoveAcrossRegistries(CaseContext ctx)
    {
        List<string> names = [ctx.Image(CritestImages.Pause), ctx.OtherRegistryPath(CritestImages.Pause)];
        // The same image may be the runtime's sandbox image under another name: clear it (by id) and restore it after.
        var id = await ctx.RegistryImageIdAsync(CritestImages.Pause);
        await ctx.EnsureAbsentAsync(id);
        await PullAllAsync(ctx, names);
        await RemoveAllNamesAsync(ctx, names);
    }

    /// <summary>critest's testPullPublicImage: clear, pull, ImageStatus (id, size, then <paramref name="check"/>), remove by id.</summary>
    private static async Task PullCheckRemoveAsync(CaseContext ctx, string image, Action<Image> check)
    {
        await ctx.EnsureAbsentAsync(image);
        await ctx.CritestPullAsync(image);
        var status = Check.NotNull(await ctx.StatusAsync(image), $"ImageStatus({image}).image after the pull");
        Check.NotEmpty(status.Id, $"ImageStatus({image}).image.id");
        Check.True(status.Size > 0, $"ImageStatus({image}).image.size is 0");
        check(status);
        await RemoveCheckAsync(ctx, image);
    }

    /// <summary>critest's testRemoveImage: remove by the id ImageStatus reports, then ImageStatus by name is empty.</summary>
    private static async Task RemoveCheckAsync(CaseContext ctx, string image)
    {
        await ctx.RemoveByStatusAsync(image);
        await ctx.ExpectGoneAsync(image, "after RemoveImage by id");
    }

    /// <summary>Clears every name, then pulls them in order; returns the image_refs.</summary>
    private static async Task<List<string>> PullAllAsync(CaseContext ctx, IReadOnlyList<string> names)
    {
        foreach (var name in names) await ctx.EnsureAbsentAsync(name);
        var ids = new List<string>();
        foreach (var name in names) ids.Add(await ctx.CritestPullAsync(name));
        return ids;
    }

    /// <summary>All <paramref name="names"/> are tags of one listed image; removing it through the first name removes every name and the id.</summary>
    private static async Task RemoveAllNamesAsync(CaseContext ctx, IReadOnlyList<string> names)
    {
        var found = Check.NotNull(CritestImageSupport.FindByTag(await ctx.ListAsync(), names[0]), $"ListImages entry with tag {names[0]}");
        Check.True(found.RepoTags.Count == names.Count && names.All(found.RepoTags.Contains),
            $"image {found.Id} has repo_tags {Pods.Show(found.RepoTags)}, want exactly {Pods.Show(names)}");
        await ctx.RemoveByStatusAsync(names[0]);
        foreach (var name in names.Append(found.Id)) await ctx.ExpectGoneAsync(name, $"after removing {names[0]}");
    }
}

/// <summary>critest 1.36.0 "Image Consistency": ListImages and ImageStatus agree with a pull or a removal at once; concurrent RemoveImage calls all succeed.</summary>
[CaseArea("critest Image Consistency")]
public sealed class CritestImageConsistencyCases
{
    [Case("should not list or get image status immediately after removal [Conformance]")]
    public async Task GoneAfterRemoval(CaseContext ctx)
    {
        var image = ctx.Image(CritestImages.ImageTagTest);
        await ctx.EnsureAbsentAsync(image);
        await ctx.CritestPullAsync(image);
        await ctx.RemoveByStatusAsync(image);
        var listed = CritestImageSupport.FindByTag(await ctx.ListAsync(), image);
        Check.True(listed is null, $"ListImages still lists {image} (id {listed?.Id}) right after its removal");
        await ctx.ExpectGoneAsync(image, "right after its removal");
    }

    [Case("should list and get image status immediately after pulling [Conformance]")]
    public async Task PresentAfterPull(CaseContext ctx)
    {
        var image = ctx.Image(CritestImages.ImageTagTest);
        await ctx.EnsureAbsentAsync(image);
        await ctx.CritestPullAsync(image);
        Check.NotNull(CritestImageSupport.FindByTag(await ctx.ListAsync(), image), $"ListImages entry with tag {image} right after the pull");
        Check.NotNull(await ctx.StatusAsync(image), $"ImageStatus({image}).image right after the pull");
    }

    [Case("should not fail on simultaneous RemoveImage calls [Conformance]")]
    public async Task ConcurrentRemove(CaseContext ctx)
    {
        var image = ctx.Image(CritestImages.ImageTagTest);
        await ctx.EnsureAbsentAsync(image);
        await ctx.CritestPullAsync(image);
        var id = Check.NotNull(await ctx.StatusAsync(image), $"ImageStatus({image}).image after the pull").Id;
        var results = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => Task.Run(async () =>
        {
            string? error = null;
            try
            {
                await ctx.Images.RemoveImageAsync(new RemoveImageRequest { Image = new ImageSpec { Image = id } }, ctx.Options);
            }
            catch (Grpc.Core.RpcException e)
            {
                error = $"{e.StatusCode} {e.Status.Detail}";
            }

            return (Error: error, Found: await ctx.StatusAsync(id) is not null);
        })));
        foreach (var (error, found) in results)
        {
            Check.True(error is null, $"one of 5 concurrent RemoveImage({id}) calls failed: {error}");
            Check.True(!found, $"ImageStatus({id}) still reports the image right after a RemoveImage call returned");
        }

        await ctx.ExpectGoneAsync(id, "after 5 concurrent RemoveImage calls");
    }
}

/// <summary>
/// critest 1.36.0 "Image Identifier Consistency": PullImage's image_ref, Image.id, ContainerStatus.image_id and
/// Container.image_id are one value, also for one image pulled from two registries. critest skips when the runtime
/// leaves image_id empty; here that fails.
/// </summary>
[CaseArea("critest Image Identifier Consistency")]
public sealed class CritestImageIdConsistencyCases
{
    [Case("should return the same image identifier across all APIs [Conformance]")]
    public async Task SameIdEverywhere(CaseContext ctx)
    {
        var image = ctx.Image(CritestImages.ImageTagTest);
        var imageRef = await ctx.CritestPullAsync(image);
        var status = Check.NotNull(await ctx.StatusAsync(image), $"ImageStatus({image}).image");
        var containerId = await StartContainerAsync(ctx, imageRef, image, "id-consistency-");
        var containerStatus = await ctx.ContainerStatusAsync(containerId);
        var listed = (await ctx.Runtime.ListContainersAsync(new ListContainersRequest { Filter = new ContainerFilter { Id = containerId } }, ctx.Options)).Containers;
        Check.Equal(1, listed.Count, $"ListContainers(id {containerId}) entries");
        Check.Equal(imageRef, status.Id, "Image.id vs PullImageResponse.image_ref");
        Check.Equal(imageRef, containerStatus.ImageId, "ContainerStatus.image_id vs PullImageResponse.image_ref");
        Check.Equal(imageRef, listed[0].ImageId, "Container.image_id vs PullImageResponse.image_ref");
    }

    [Case("should return the same image identifier when pulled from different registries [Conformance]")]
    public async Task SameIdAcrossRegistries(CaseContext ctx)
    {
        var first = ctx.Image(CritestImages.Pause);
        var second = ctx.OtherRegistryPath(CritestImages.Pause);
        // Removing the pulled names removes the image under every name, also as the runtime's sandbox image: restore it after.
        await ctx.RestoreAfterCaseAsync(await ctx.RegistryImageIdAsync(CritestImages.Pause));
        var ref1 = await ctx.CritestPullAsync(first);
        var ref2 = await ctx.CritestPullAsync(second);
        Check.Equal(ref1, ref2, $"image_ref of {second} vs {first}");
        Check.Equal(ref1, Check.NotNull(await ctx.StatusAsync(first), $"ImageStatus({first}).image").Id, $"Image.id of {first}");
        Check.Equal(ref1, Check.NotNull(await ctx.StatusAsync(second), $"ImageStatus({second}).image").Id, $"Image.id of {second}");
        var containerId = await StartContainerAsync(ctx, ref2, second, "id-consistency-multi-registry-");
        Check.Equal(ref1, (await ctx.ContainerStatusAsync(containerId)).ImageId, "ContainerStatus.image_id vs the image_ref of the first pull");
    }

    /// <summary>A critest pod and a container of the image by id (its own entrypoint, no Linux config), started.</summary>
    private static async Task<string> StartContainerAsync(CaseContext ctx, string imageRef, string userSpecified, string namePrefix)
    {
        var (podId, podConfig) = await ctx.PodForContainerAsync();
        var config = new ContainerConfig
        {
            Metadata = new ContainerMetadata { Name = namePrefix + Critest.Uuid(), Attempt = Critest.Attempt },
            Image = new ImageSpec { Image = imageRef, UserSpecifiedImage = userSpecified },
        };
        var id = await ctx.CreateCritestContainerAsync(podId, podConfig, config);
        await ctx.StartAsync(id);
        return id;
    }
}
