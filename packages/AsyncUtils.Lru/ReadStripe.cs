using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace AsyncUtils.Lru;

/// <summary>
/// A bounded buffer of reads not yet applied to the recency list. Readers claim a slot with one
/// compare-and-swap on <see cref="Tail"/>; the lock holder applies the slots and advances
/// <see cref="Head"/>. A thread always uses the same stripe, so its own reads keep their order;
/// the epoch stamped on each read orders reads across stripes (see <see cref="ReadClock"/>).
/// </summary>
internal sealed class ReadStripe<TNode>
    where TNode : class
{
    internal const int Size = 32;
    internal const int Mask = Size - 1;

    internal readonly ReadRecord[] Records = new ReadRecord[Size];

    // Claimed slots (written by readers with a CAS). Its value is also the count of recorded hits.
    internal long Tail;

    // Applied slots (written by the lock holder only).
    internal long Head;

    // Hits that needed no record (the entry was already the most recent) and misses; counted
    // only when statistics are on.
    internal long Skipped;
    internal long Misses;

#pragma warning disable IDE0051, CS0169 // Padding keeps the next stripe's counters off this cache line.
    private readonly Padding _padding;
#pragma warning restore IDE0051, CS0169

    /// <summary>The newest node recorded and not yet applied, or <see langword="null"/> when none is pending.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal TNode? NewestPending(long head, long tail) =>
        tail == head ? null : Volatile.Read(ref Records[(int)(tail - 1) & Mask].Node);

    /// <summary>Claims the slot at <paramref name="tail"/> and writes the read; false if another reader took it or the stripe is full.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryAppend(long head, long tail, TNode node, long epoch)
    {
        if (tail - head >= Size || Interlocked.CompareExchange(ref Tail, tail + 1, tail) != tail)
        {
            return false;
        }

        ref ReadRecord record = ref Records[(int)tail & Mask];
        record.Epoch = epoch;
        Volatile.Write(ref record.Node, node); // publishes the epoch with it
        return true;
    }

    internal struct ReadRecord
    {
        internal TNode? Node;
        internal long Epoch;
    }

    [StructLayout(LayoutKind.Sequential, Size = 64)]
    private readonly struct Padding
    {
    }
}
