using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class ImageService
{
    public override Task<ImageFsInfoResponse> ImageFsInfo(ImageFsInfoRequest request, ServerCallContext context)
    {
        var (image, containers) = fsUsage.Current();
        return Task.FromResult(new ImageFsInfoResponse
        {
            ImageFilesystems = { Usage(image) },
            ContainerFilesystems = { Usage(containers) },
        });

        static FilesystemUsage Usage(Images.DiskUsage u) => new()
        {
            Timestamp = u.MeasuredAt.ToUnixTimeMilliseconds() * 1_000_000,
            FsId = new FilesystemIdentifier { Mountpoint = u.Path },
            UsedBytes = new UInt64Value { Value = (ulong)u.Bytes },
            InodesUsed = new UInt64Value { Value = (ulong)u.Inodes },
        };
    }
}
