namespace CriSharp.Model;

/// <summary>
/// What went wrong, in the terms a CRI caller acts on. Every engine failure that is not a bug carries one; the
/// façade turns each kind into one gRPC status code, in one place (CriSharp.Cri.ErrorMapping).
/// </summary>
public enum ErrorKind
{
    /// <summary>Ours: a host call or a program failed in a way the caller cannot fix.</summary>
    Internal,
    NotFound,
    /// <summary>The request is wrong; <see cref="CriSharpException.Field"/> names the field.</summary>
    InvalidArgument,
    AlreadyExists,
    /// <summary>The request is fine but the object or the host is not in a state to do it.</summary>
    FailedPrecondition,
    DeadlineExceeded,
    ResourceExhausted,
    /// <summary>Something the call needs is unreachable for now (a registry's network); retrying may help.</summary>
    Unavailable,
    Unauthenticated,
    /// <summary>Content did not match its digest.</summary>
    DataLoss,
    Unimplemented,
}

/// <summary>The one base exception of the engine: a kind, a message for the operator, and the request field at fault.</summary>
public class CriSharpException(ErrorKind kind, string message, Exception? inner = null) : Exception(message, inner)
{
    public ErrorKind Kind { get; } = kind;

    /// <summary>The request field at fault (InvalidArgument), in the CRI's snake_case path.</summary>
    public string? Field { get; init; }

    public static CriSharpException Required(string field) =>
        new(ErrorKind.InvalidArgument, $"{field} is required") { Field = field };

    public static CriSharpException InvalidArgument(string field, string problem) =>
        new(ErrorKind.InvalidArgument, $"{field}: {problem}") { Field = field };

    public static CriSharpException NotFound(string message) => new(ErrorKind.NotFound, message);

    public static CriSharpException FailedPrecondition(string message) => new(ErrorKind.FailedPrecondition, message);

    public static CriSharpException ResourceExhausted(string message, Exception? inner = null) =>
        new(ErrorKind.ResourceExhausted, message, inner);

    public static CriSharpException Unimplemented(string message) => new(ErrorKind.Unimplemented, message);

    /// <summary>The same failure, its message prefixed with what was being done ("pulling busybox:1.36").</summary>
    public CriSharpException WithContext(string context) => new(Kind, $"{context}: {Message}", this) { Field = Field };
}

/// <summary>A request field is invalid (InvalidArgument naming the field).</summary>
public sealed class InvalidRequestException : CriSharpException
{
    public InvalidRequestException(string field, string message)
        : base(ErrorKind.InvalidArgument, $"{field}: {message}") => Field = field;
}

/// <summary>The object named does not exist (NotFound).</summary>
public sealed class ObjectNotFoundException(string message) : CriSharpException(ErrorKind.NotFound, message);

/// <summary>The object exists but is in the wrong state for the call (FailedPrecondition).</summary>
public sealed class WrongStateException(string message) : CriSharpException(ErrorKind.FailedPrecondition, message);

/// <summary>An object with that name already exists (AlreadyExists).</summary>
public sealed class NameInUseException(string message) : CriSharpException(ErrorKind.AlreadyExists, message);

/// <summary>
/// A runtime handler that cannot be used now: its binary is missing, or it is no longer configured (FailedPrecondition).
/// Its containers keep their last known state; the handler is used again as soon as it is back.
/// </summary>
public sealed class HandlerUnavailableException(string handler, string why)
    : CriSharpException(ErrorKind.FailedPrecondition, $"runtime handler '{handler}' is not available: {why}")
{
    public string Handler { get; } = handler;
}

/// <summary>A CRI request asks for something the spec cannot express; <see cref="Field"/> names the offending request field.</summary>
public sealed class SpecException : CriSharpException
{
    public SpecException(string field, string message) : base(ErrorKind.InvalidArgument, message) => base.Field = field;

    public new string Field => base.Field!;
}
