using System.Reflection;

namespace CriSharp.Conformance.Framework;

/// <summary>One discovered case.</summary>
public sealed record ConformanceCase(string Area, string Name, Func<CaseContext, Task> Run)
{
    public string FullName => $"{Area}/{Name}";
}

/// <summary>Discovers <see cref="CaseAreaAttribute"/> classes and their <see cref="CaseAttribute"/> methods.</summary>
public static class CaseRegistry
{
    /// <summary>Areas in the order they run; unknown areas run afterwards, alphabetically.</summary>
    private static readonly string[] AreaOrder = ["Runtime", "Image", "Pod", "Container", "Network", "Streaming", "Stats"];

    public static IReadOnlyList<ConformanceCase> Discover(Assembly assembly)
    {
        var found = new List<(ConformanceCase Case, int Line)>();
        foreach (var type in assembly.GetTypes())
        {
            var area = type.GetCustomAttribute<CaseAreaAttribute>();
            if (area is null)
            {
                continue;
            }

            if (type.GetConstructor(Type.EmptyTypes) is null)
            {
                throw new InvalidOperationException($"{type.FullName}: case classes need a public parameterless constructor");
            }

            const BindingFlags flags = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            foreach (var method in type.GetMethods(flags))
            {
                var attr = method.GetCustomAttribute<CaseAttribute>();
                if (attr is null)
                {
                    continue;
                }

                var parameters = method.GetParameters();
                if (method.ReturnType != typeof(Task) || parameters.Length != 1 || parameters[0].ParameterType != typeof(CaseContext))
                {
                    throw new InvalidOperationException($"{type.FullName}.{method.Name}: a case must be 'Task {method.Name}(CaseContext ctx)'");
                }

                if (attr.Name.Contains('#') || attr.Name.Trim() != attr.Name || attr.Name.Length == 0)
                {
                    throw new InvalidOperationException($"{type.FullName}.{method.Name}: case name '{attr.Name}' must be non-empty, trimmed and without '#'");
                }

                var run = (Func<CaseContext, Task>)(ctx =>
                {
                    var target = method.IsStatic ? null : Activator.CreateInstance(type);
                    try
                    {
                        return (Task)method.Invoke(target, [ctx])!;
                    }
                    catch (TargetInvocationException e) when (e.InnerException is not null)
                    {
                        return Task.FromException(e.InnerException);
                    }
                });
                found.Add((new ConformanceCase(area.Area, attr.Name, run), attr.Line));
            }
        }

        var duplicates = found.GroupBy(f => f.Case.FullName).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (duplicates.Count > 0)
        {
            throw new InvalidOperationException("duplicate case names: " + string.Join(", ", duplicates));
        }

        return found
            .OrderBy(f => AreaRank(f.Case.Area))
            .ThenBy(f => f.Case.Area, StringComparer.Ordinal)
            .ThenBy(f => f.Line)
            .Select(f => f.Case)
            .ToList();
    }

    private static int AreaRank(string area)
    {
        var i = Array.IndexOf(AreaOrder, area);
        return i < 0 ? AreaOrder.Length : i;
    }
}
