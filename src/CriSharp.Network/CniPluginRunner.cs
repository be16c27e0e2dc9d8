using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using CriSharp.Mechanism.Processes;

namespace CriSharp.Network;

/// <summary>The CNI_* environment of one plugin call (empty strings where a command takes no value).</summary>
public sealed record CniInvocation(string Command, string ContainerId, string NetNs, string IfName, string Args, IReadOnlyList<string> PluginDirs)
{
    /// <summary>STATUS (and GC) take only the command and the plugin path.</summary>
    public static CniInvocation ForNetwork(string command, IReadOnlyList<string> pluginDirs) => new(command, "", "", "", "", pluginDirs);
}

/// <summary>
/// Runs one CNI plugin per the spec: config on stdin, CNI_* in the environment, result or error JSON on
/// stdout; through <see cref="ProcessRunner"/> with a timeout. Every failure becomes a <see cref="CniException"/>.
/// </summary>
public static class CniPluginRunner
{
    /// <summary>The environment variables the spec defines for a call.</summary>
    public static IReadOnlyDictionary<string, string> Environment(CniInvocation call) => new Dictionary<string, string>
    {
        ["CNI_COMMAND"] = call.Command,
        ["CNI_CONTAINERID"] = call.ContainerId,
        ["CNI_NETNS"] = call.NetNs,
        ["CNI_IFNAME"] = call.IfName,
        ["CNI_ARGS"] = call.Args,
        ["CNI_PATH"] = string.Join(':', call.PluginDirs),
    };

    /// <summary>Runs the plugin; returns its stdout on exit 0, else throws with the plugin's own error message.</summary>
    public static async Task<string> RunAsync(string pluginPath, CniInvocation call, JsonObject config, TimeSpan timeout, CancellationToken ct)
    {
        var type = Path.GetFileName(pluginPath);
        ProcessResult r;
        try
        {
            r = await ProcessRunner.RunAsync(pluginPath, [], timeout, ct, Environment(call), config.ToJsonString()).ConfigureAwait(false);
        }
        catch (ExternalProgramException e) when (e.TimedOut)
        {
            throw new CniException(
                $"CNI plugin {type} ({call.Command}) timed out after {timeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)}s and was killed{Suffix(e.Stderr)}", inner: e);
        }
        catch (ExternalProgramException e)
        {
            throw new CniException($"CNI plugin {type} ({call.Command}) could not be run: {e.Message}", inner: e);
        }
        if (r.ExitCode != 0) throw Failure(type, call.Command, r);
        return r.Stdout;
    }

    /// <summary>The exception for a plugin that exited non-zero: its error JSON's code, msg and details, else its raw output.</summary>
    public static CniException Failure(string type, string command, ProcessResult r)
    {
        var error = ParseError(r.Stdout);
        if (error is var (code, msg, details))
        {
            var text = details.Length > 0 && details != msg ? $"{msg}: {details}" : msg;
            return new CniException($"CNI plugin {type} failed ({command}): {text} (CNI error code {code}){Suffix(r.Stderr)}", code);
        }
        var output = Excerpt(r.Stdout.Trim().Length > 0 ? r.Stdout : r.Stderr);
        return new CniException($"CNI plugin {type} failed ({command}) with exit code {r.ExitCode}{(output.Length > 0 ? ": " + output : " and no output")}");
    }

    /// <summary>The spec's error object <c>{"code": n, "msg": "...", "details": "..."}</c>, or null if stdout is not one.</summary>
    public static (int Code, string Msg, string Details)? ParseError(string stdout)
    {
        try
        {
            if (JsonNode.Parse(stdout) is not JsonObject o) return null;
            if (o["code"] is not JsonValue cv || !cv.TryGetValue<int>(out var code)) return null;
            var msg = o["msg"] is JsonValue mv && mv.TryGetValue<string>(out var m) ? m : "";
            var details = o["details"] is JsonValue dv && dv.TryGetValue<string>(out var d) ? d : "";
            return (code, msg.Length > 0 ? msg : "(no message)", details);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>At most 300 characters of a plugin's output, on one line.</summary>
    public static string Excerpt(string text)
    {
        var t = text.Trim().ReplaceLineEndings(" ");
        return t.Length > 300 ? t[..300] + "…" : t;
    }

    static string Suffix(string stderr)
    {
        var e = Excerpt(stderr);
        return e.Length == 0 ? "" : $" (stderr: {e})";
    }
}
