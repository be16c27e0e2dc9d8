namespace CriSharp.Runtime;

/// <summary>A request field is invalid (→ InvalidArgument naming the field).</summary>
public sealed class InvalidRequestException(string field, string message) : Exception($"{field}: {message}")
{
    public string Field { get; } = field;
}

/// <summary>The object named does not exist (→ NotFound).</summary>
public sealed class ObjectNotFoundException(string message) : Exception(message);

/// <summary>The object exists but is in the wrong state for the call (→ FailedPrecondition).</summary>
public sealed class WrongStateException(string message) : Exception(message);

/// <summary>An object with that name already exists (→ AlreadyExists).</summary>
public sealed class NameInUseException(string message) : Exception(message);

/// <summary>
/// A runtime handler that cannot be used now: its binary is missing, or it is no longer configured (→ FailedPrecondition).
/// Its containers keep their last known state; the handler is used again as soon as it is back.
/// </summary>
public sealed class HandlerUnavailableException(string handler, string why)
    : Exception($"runtime handler '{handler}' is not available: {why}")
{
    public string Handler { get; } = handler;
}
