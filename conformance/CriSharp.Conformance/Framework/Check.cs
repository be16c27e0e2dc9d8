using Grpc.Core;

namespace CriSharp.Conformance.Framework;

/// <summary>Small assertion helpers; every failure throws <see cref="CaseFailedException"/>.</summary>
public static class Check
{
    public static void True(bool condition, string message)
    {
        if (!condition)
        {
            throw new CaseFailedException(message);
        }
    }

    public static void Equal<T>(T expected, T actual, string what)
    {
        if (!EqualityComparer<T>.Default.Equals(expected, actual))
        {
            throw new CaseFailedException($"{what}: expected {Show(expected)}, got {Show(actual)}");
        }
    }

    public static void NotEmpty(string? value, string what)
    {
        if (string.IsNullOrEmpty(value))
        {
            throw new CaseFailedException($"{what} is empty");
        }
    }

    public static T NotNull<T>(T? value, string what)
        where T : class
        => value ?? throw new CaseFailedException($"{what} is missing");

    public static CaseFailedException Fail(string message) => new(message);

    /// <summary>Runs <paramref name="call"/> and requires it to fail with the given gRPC status code.</summary>
    public static async Task<RpcException> RpcFailsAsync(StatusCode expected, Func<Task> call, string what)
    {
        try
        {
            await call();
        }
        catch (RpcException e) when (e.StatusCode == expected)
        {
            return e;
        }
        catch (RpcException e)
        {
            throw new CaseFailedException($"{what}: expected {expected}, got {e.StatusCode} ({e.Status.Detail})");
        }

        throw new CaseFailedException($"{what}: expected {expected}, but the call succeeded");
    }

    private static string Show<T>(T value) => value switch
    {
        null => "null",
        string s => $"\"{s}\"",
        _ => value.ToString() ?? "null",
    };
}
