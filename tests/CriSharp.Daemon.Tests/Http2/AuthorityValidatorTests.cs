using System.Reflection;
using System.Text;
using CriSharp.Daemon.Http2;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace CriSharp.Daemon.Tests.Http2;

/// <summary>The authority rule, checked against Kestrel's own.</summary>
public class AuthorityValidatorTests
{
    [Theory]
    [InlineData("localhost", true)]
    [InlineData("127.0.0.1:8080", true)]
    [InlineData("[::1]:80", true)]
    [InlineData("[fe80::1%25eth0]", false)]
    [InlineData("[::1]", true)]
    [InlineData("", true)]
    [InlineData("example.com:", false)]
    [InlineData(":80", false)]
    [InlineData("/run/crisharp/crisharp.sock", false)]
    [InlineData("unix:///run/crisharp/crisharp.sock", false)]
    [InlineData("a b", false)]
    [InlineData("user@host", false)]
    public void Classifies(string value, bool valid) => Assert.Equal(valid, AuthorityValidator.IsValid(Encoding.Latin1.GetBytes(value)));

    [Fact]
    public void Agrees_with_kestrel_for_every_ascii_character_and_random_mixes()
    {
        // Kestrel keeps its rule internal; compare against it so a Kestrel change is noticed here.
        var type = typeof(KestrelServerOptions).Assembly.GetType("Microsoft.AspNetCore.Server.Kestrel.Core.Internal.Infrastructure.HttpUtilities", throwOnError: true)!;
        var method = type.GetMethod("IsHostHeaderValid", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static, [typeof(string)])!;
        bool Kestrel(string s) => (bool)method.Invoke(null, [s])!;

        var candidates = new List<string>();
        for (var c = 0; c < 128; c++)
        {
            var ch = (char)c;
            candidates.AddRange([$"{ch}", $"{ch}host", $"ho{ch}st", $"host{ch}", $"host:8{ch}", $"[::{ch}]", $"[::1]{ch}", $"[::1]:{ch}", $"[{ch}:1]:80"]);
        }

        var alphabet = "ab09-._~!$&'()[]:/@% *+,;=\u00e9\u0080xF";
        var random = new Random(3986);
        for (var i = 0; i < 20000; i++)
        {
            candidates.Add(new string(Enumerable.Range(0, random.Next(0, 12)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray()));
        }

        foreach (var candidate in candidates)
        {
            Assert.True(Kestrel(candidate) == AuthorityValidator.IsValid(Encoding.Latin1.GetBytes(candidate)), $"disagreement on \"{candidate}\"");
        }
    }

    [Fact]
    public void Kestrel_defaults_match_the_rewriter_assumptions()
    {
        var options = new KestrelServerOptions();
        Assert.Equal(4096, options.Limits.Http2.HeaderTableSize);
        Assert.Equal(16384, options.Limits.Http2.MaxFrameSize);
        Assert.Equal(new Http2RewriterLimits().HeaderTableSize, options.Limits.Http2.HeaderTableSize);
    }
}
