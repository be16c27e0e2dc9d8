namespace CriSharp.Daemon.Http2;

/// <summary>
/// Decides whether Kestrel would accept a value as <c>:authority</c>/<c>Host</c>. Mirrors Kestrel's own rule
/// (internal HttpUtilities.IsHostHeaderValid): reg-name/IPv4 characters or a bracketed IPv6 literal, then an
/// optional ":digits" port; empty is allowed. A test compares the two by reflection.
/// </summary>
internal static class AuthorityValidator
{
    public static bool IsValid(ReadOnlySpan<byte> value)
    {
        if (value.IsEmpty)
        {
            return true;
        }

        if (value[0] == (byte)'[')
        {
            for (var i = 1; i < value.Length; i++)
            {
                var c = value[i];
                if (c == (byte)']')
                {
                    // "[::1]" is the shortest literal Kestrel accepts.
                    return i >= 4 && (i + 1 == value.Length || IsPort(value[(i + 1)..]));
                }

                if (!IsHex(c) && c != (byte)':' && c != (byte)'.')
                {
                    return false;
                }
            }

            return false;
        }

        if (value[0] == (byte)':')
        {
            return false;
        }

        for (var i = 0; i < value.Length; i++)
        {
            if (!IsHostChar(value[i]))
            {
                return IsPort(value[i..]);
            }
        }

        return true;
    }

    // ":" followed by at least one digit and nothing else.
    private static bool IsPort(ReadOnlySpan<byte> value)
    {
        if (value.Length < 2 || value[0] != (byte)':')
        {
            return false;
        }

        foreach (var c in value[1..])
        {
            if (c is < (byte)'0' or > (byte)'9')
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsHex(byte c) => c is >= (byte)'0' and <= (byte)'9' or >= (byte)'a' and <= (byte)'f' or >= (byte)'A' and <= (byte)'F';

    // RFC 3986 unreserved plus the sub-delims Http.Sys allows: ALPHA DIGIT ! $ & ' ( ) - . _ ~
    private static bool IsHostChar(byte c) =>
        c is >= (byte)'a' and <= (byte)'z' or >= (byte)'A' and <= (byte)'Z' or >= (byte)'0' and <= (byte)'9'
            or (byte)'!' or (byte)'$' or (byte)'&' or (byte)'\'' or (byte)'(' or (byte)')' or (byte)'-' or (byte)'.'
            or (byte)'_' or (byte)'~';
}
