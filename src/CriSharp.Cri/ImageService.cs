using System.Globalization;
using CriSharp.Api.V1;
using CriSharp.Images;
using CriSharp.Model;
using Grpc.Core;

namespace CriSharp.Cri;

/// <summary>The CRI runtime.v1.ImageService, one partial file per RPC.</summary>
public sealed partial class ImageService(ImagePuller puller, ImageStore images, ImageFsUsage fsUsage) : Api.V1.ImageService.ImageServiceBase
{
    static string RequireImage(ImageSpec? spec, string field)
    {
        var image = spec?.Image ?? "";
        if (string.IsNullOrWhiteSpace(image))
            throw CriSharpException.Required(field);
        return image;
    }

    ImageRecord? Find(string image) => images.Find(image, puller.DefaultRegistry);

    /// <summary>The CRI view of an image record; uid or username comes from the config's User.</summary>
    static Image ToProto(ImageRecord r)
    {
        var image = new Image
        {
            Id = r.Id,
            Size = (ulong)r.Size,
            Pinned = r.Pinned,
            Spec = new ImageSpec { Image = r.Id, Annotations = { r.Annotations } },
        };
        image.RepoTags.AddRange(r.RepoTags);
        image.RepoDigests.AddRange(r.RepoDigests);
        var user = r.User.Split(':')[0];
        if (long.TryParse(user, NumberStyles.None, CultureInfo.InvariantCulture, out var uid))
            image.Uid = new Int64Value { Value = uid };
        else
            image.Username = user;
        return image;
    }
}
