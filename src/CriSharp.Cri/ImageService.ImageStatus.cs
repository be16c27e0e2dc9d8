using System.Text.Json;
using System.Text.Json.Nodes;
using CriSharp.Api.V1;
using Grpc.Core;

namespace CriSharp.Cri;

public sealed partial class ImageService
{
    public override Task<ImageStatusResponse> ImageStatus(ImageStatusRequest request, ServerCallContext context)
    {
        var record = Find(RequireImage(request.Image, "image.image"));
        var response = new ImageStatusResponse();
        if (record == null) return Task.FromResult(response); // absent: image unset, not an error
        response.Image = ToProto(record);
        if (request.Verbose)
        {
            var info = new JsonObject
            {
                ["manifestDigest"] = record.ManifestDigest,
                ["manifestMediaType"] = record.ManifestMediaType,
                ["chainIds"] = new JsonArray([.. record.ChainIds.Select(c => (JsonNode)c!)]),
                ["pulledAt"] = record.PulledAt.ToString("O"),
                ["manifest"] = JsonNode.Parse(puller.ReadManifest(record)),
                ["config"] = JsonNode.Parse(puller.ReadConfigBytes(record)),
            };
            response.Info["info"] = info.ToJsonString();
        }
        return Task.FromResult(response);
    }
}
