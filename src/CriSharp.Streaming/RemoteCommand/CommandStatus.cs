using System.Globalization;
using System.Text.Json.Serialization;

namespace CriSharp.Streaming.RemoteCommand;

/// <summary>
/// The metav1.Status a v4+ client reads from the error stream: Success, or Failure with reason NonZeroExitCode
/// and the exit code as the message of an ExitCode cause, or an InternalError.
/// </summary>
sealed class CommandStatus
{
    public const string NonZeroExitCode = "NonZeroExitCode";
    public const string ExitCodeCause = "ExitCode";

    [JsonPropertyName("metadata")] public StatusMetadata Metadata { get; init; } = new();
    [JsonPropertyName("status")] public required string Status { get; init; }
    [JsonPropertyName("message")] public string? Message { get; init; }
    [JsonPropertyName("reason")] public string? Reason { get; init; }
    [JsonPropertyName("details")] public StatusDetails? Details { get; init; }
    [JsonPropertyName("code")] public int? Code { get; init; }

    [JsonIgnore] public bool Succeeded => Status == "Success";

    public static CommandStatus Success() => new() { Status = "Success" };

    public static CommandStatus Exited(int exitCode) => exitCode == 0 ? Success() : new()
    {
        Status = "Failure",
        Message = $"command terminated with non-zero exit code: exit status {exitCode}",
        Reason = NonZeroExitCode,
        Details = new() { Causes = [new() { Reason = ExitCodeCause, Message = exitCode.ToString(CultureInfo.InvariantCulture) }] },
    };

    public static CommandStatus InternalError(string error) => new()
    {
        Status = "Failure",
        Message = $"Internal error occurred: {error}",
        Reason = "InternalError",
        Details = new() { Causes = [new() { Message = error }] },
        Code = 500,
    };
}

/// <summary>metav1.ListMeta, always empty here but always present, as Kubernetes serialises it.</summary>
sealed class StatusMetadata;

/// <summary>metav1.StatusDetails: only the causes are used.</summary>
sealed class StatusDetails
{
    [JsonPropertyName("causes")] public List<StatusCause> Causes { get; init; } = [];
}

/// <summary>metav1.StatusCause; its Go field Type is serialised as "reason".</summary>
sealed class StatusCause
{
    [JsonPropertyName("reason")] public string? Reason { get; init; }
    [JsonPropertyName("message")] public string? Message { get; init; }
}

/// <summary>A resize message: remotecommand.TerminalSize, whose Go fields have no JSON tags.</summary>
sealed class TerminalSize
{
    public ushort Width { get; init; }
    public ushort Height { get; init; }
}

/// <summary>Source-generated JSON for the status and resize messages.</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, PropertyNameCaseInsensitive = true)]
[JsonSerializable(typeof(CommandStatus))]
[JsonSerializable(typeof(TerminalSize))]
partial class StreamingJsonContext : JsonSerializerContext;
