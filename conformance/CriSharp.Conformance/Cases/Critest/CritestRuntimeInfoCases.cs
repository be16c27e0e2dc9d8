using CriSharp.Api.V1;
using CriSharp.Conformance.Framework;

namespace CriSharp.Conformance.Cases;

/// <summary>critest 1.36.0 "Runtime info": Version (asked with critest's version "0.1.0") and the two required Status conditions.</summary>
[CaseArea("critest Runtime info")]
public sealed class CritestRuntimeInfoCases
{
    [Case("runtime should support returning runtime info :: runtime should return version info [Conformance]")]
    public async Task Version(CaseContext ctx)
    {
        var v = await ctx.Runtime.VersionAsync(new VersionRequest { Version = "0.1.0" }, ctx.Options);
        Check.NotEmpty(v.Version, "Version.version");
        Check.NotEmpty(v.RuntimeName, "Version.runtime_name");
        Check.NotEmpty(v.RuntimeVersion, "Version.runtime_version");
        Check.NotEmpty(v.RuntimeApiVersion, "Version.runtime_api_version");
    }

    [Case("runtime should support returning runtime info :: runtime should return runtime conditions [Conformance]")]
    public async Task Conditions(CaseContext ctx)
    {
        var r = await ctx.Runtime.StatusAsync(new StatusRequest { Verbose = false }, ctx.Options);
        var conditions = r.Status?.Conditions ?? [];
        var ready = conditions.Count(c => c.Type is "RuntimeReady" or "NetworkReady" && c.Status);
        Check.True(ready >= 2, "Status lacks RuntimeReady=true and NetworkReady=true; conditions: "
            + string.Join(", ", conditions.Select(c => $"{c.Type}={c.Status} ({c.Reason} {c.Message})")));
    }
}
