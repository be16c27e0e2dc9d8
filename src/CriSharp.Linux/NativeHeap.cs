using System.Runtime.InteropServices;

namespace CriSharp.Linux;

/// <summary>The C library's heap: hand the free pages at the top of every malloc arena back to the kernel.</summary>
public static partial class NativeHeap
{
    [LibraryImport("libc")]
    private static partial int malloc_trim(nuint pad);

    /// <summary>glibc's malloc_trim(0); true when some memory was released.</summary>
    public static bool Trim() => malloc_trim(0) != 0;
}
