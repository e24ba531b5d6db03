using System.Runtime.InteropServices;

namespace AsyncUtils;

/// <summary>
/// The running state of one <see cref="SlidingLogWindow"/>: where in the shared log its window
/// starts and how many permits the entries from there to the end hold.
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal struct WindowState
{
    /// <summary>The window's length in timestamp units.</summary>
    internal long Period;

    /// <summary>The most permits the window may hold.</summary>
    internal int Limit;

    /// <summary>The log sequence number of the oldest entry still inside the window.</summary>
    internal long Head;

    /// <summary>The permits held by the entries from <see cref="Head"/> to the end of the log.</summary>
    internal long Count;
}
