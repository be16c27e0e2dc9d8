using System.Runtime.CompilerServices;

namespace CriSharp.Conformance.Framework;

/// <summary>
/// Marks a class as a group of conformance cases for one area (e.g. "Runtime", "Image", "Pod").
/// The class needs a public parameterless constructor; a fresh instance is created per case.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class CaseAreaAttribute(string area) : Attribute
{
    public string Area { get; } = area;
}

/// <summary>
/// Marks a method as one conformance case. The method must have the signature
/// <c>Task Method(CaseContext ctx)</c>. Its full name is <c>Area/name</c>; cases run in
/// area order, then in source order within the file.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class CaseAttribute(string name, [CallerLineNumber] int line = 0) : Attribute
{
    public string Name { get; } = name;
    public int Line { get; } = line;
}
