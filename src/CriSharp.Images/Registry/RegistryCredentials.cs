using System.Text;

namespace CriSharp.Images.Registry;

/// <summary>
/// Credentials for one pull, as the CRI AuthConfig carries them: user/password (Basic, or for a token
/// server), an identity (refresh) token, or a ready registry bearer token.
/// </summary>
public sealed record RegistryCredentials(string? Username, string? Password, string? IdentityToken, string? RegistryToken)
{
    /// <summary>Builds credentials from the CRI AuthConfig fields; null when all are empty.</summary>
    /// <param name="auth">base64 of "user:password"; used when username/password are empty.</param>
    public static RegistryCredentials? FromAuthConfig(string username, string password, string auth, string identityToken, string registryToken)
    {
        string? user = NullIfEmpty(username), pass = NullIfEmpty(password);
        if (user is null && pass is null && !string.IsNullOrEmpty(auth))
        {
            string decoded;
            try { decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth.Trim())); }
            catch (FormatException e) { throw new ArgumentException("auth is not valid base64 of \"user:password\"", nameof(auth), e); }
            var colon = decoded.IndexOf(':');
            if (colon < 0) throw new ArgumentException("auth does not decode to \"user:password\"", nameof(auth));
            user = NullIfEmpty(decoded[..colon]);
            pass = NullIfEmpty(decoded[(colon + 1)..]);
        }
        var identity = NullIfEmpty(identityToken);
        var token = NullIfEmpty(registryToken);
        return user is null && pass is null && identity is null && token is null
            ? null
            : new RegistryCredentials(user, pass, identity, token);
    }

    /// <summary>True when there is a user name (with or without a password) to send.</summary>
    public bool HasUserPassword => Username is not null;

    /// <summary>Never prints secrets (records would print every property).</summary>
    public override string ToString() =>
        $"RegistryCredentials {{ Username = {Username}, Password = {Redact(Password)}, IdentityToken = {Redact(IdentityToken)}, RegistryToken = {Redact(RegistryToken)} }}";

    private static string Redact(string? s) => s is null ? "" : "***";
    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
