namespace CriSharp.Conformance.Framework;

/// <summary>Thrown by <see cref="Check"/> when an expectation does not hold.</summary>
public sealed class CaseFailedException(string message) : Exception(message);
