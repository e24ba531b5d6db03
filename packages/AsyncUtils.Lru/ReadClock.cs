using System.Runtime.InteropServices;

namespace AsyncUtils;

/// <summary>
/// Orders buffered reads across stripes. A reader whose stripe is not the one that recorded last
/// takes a new epoch (one atomic increment) before recording; a reader on the same stripe reuses
/// the current one. So when one read finishes before another starts on a different stripe, the
/// later read carries a larger epoch and is applied after it, even when a single logical flow
/// hops between threads; a thread that keeps reading pays no shared write.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal sealed class ReadClock
{
#pragma warning disable IDE0051, CS0169 // Padding keeps the clock on a cache line of its own.
    private readonly Padding _before;
#pragma warning restore IDE0051, CS0169

    internal long Epoch;
    internal int LastStripe = -1;

#pragma warning disable IDE0051, CS0169
    private readonly Padding _after;
#pragma warning restore IDE0051, CS0169

    /// <summary>The epoch for a read recorded on <paramref name="stripe"/>.</summary>
    internal long EpochFor(int stripe)
    {
        if (Volatile.Read(ref LastStripe) == stripe)
        {
            return Volatile.Read(ref Epoch);
        }

        // Increment first, then claim: a reader that sees its own stripe as the last one also sees this epoch.
        long epoch = Interlocked.Increment(ref Epoch);
        Volatile.Write(ref LastStripe, stripe);
        return epoch;
    }

    [StructLayout(LayoutKind.Sequential, Size = 64)]
    private readonly struct Padding
    {
    }
}
