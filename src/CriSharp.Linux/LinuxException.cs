namespace CriSharp.Linux;

/// <summary>A failed system call: the operation, the path or object it acted on, and errno.</summary>
public sealed class LinuxException(string operation, string target, int errno)
    : Exception($"{operation} {target}: {Describe(errno)} (errno {errno})")
{
    public string Operation { get; } = operation;
    public string Target { get; } = target;
    public int Errno { get; } = errno;

    static string Describe(int errno) => System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno);
}
