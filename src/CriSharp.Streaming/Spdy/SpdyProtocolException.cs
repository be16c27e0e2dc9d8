namespace CriSharp.Streaming.Spdy;

/// <summary>A peer broke the SPDY/3.1 framing rules; the session ends with GOAWAY(PROTOCOL_ERROR).</summary>
sealed class SpdyProtocolException(string message) : Exception(message);
