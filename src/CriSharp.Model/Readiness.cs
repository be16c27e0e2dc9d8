namespace CriSharp.Model;

/// <summary>A readiness verdict in the shape of a CRI RuntimeCondition.</summary>
public sealed record Readiness(bool Ready, string Reason, string Message)
{
    public static readonly Readiness Yes = new(true, "", "");
}
