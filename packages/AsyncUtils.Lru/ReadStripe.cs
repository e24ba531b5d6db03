using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace AsyncUtils.Lru;

/// <summary>
/// A bounded buffer of reads not yet applied to the recency list. Readers append at
/// <see cref="Tail"/> with plain stores; the lock holder applies the slots and advances
/// <see cref="Head"/>. A thread always uses the same stripe, so its own reads keep their order;
/// the epoch stamped on each read orders reads across stripes (see <see cref="ReadClock"/>).
/// </summary>
internal sealed class ReadStripe<TNode>
    where TNode : class
{
    internal const int Size = 32;
    internal const int Mask = Size - 1;

    internal readonly ReadRecord[] Records = new ReadRecord[Size];

    // Published slots (written by readers). Its value is also the count of recorded hits.
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

    /// <summary>
    /// Writes the read at <paramref name="tail"/> and publishes it; false when the stripe is full.
    /// Plain stores, no atomic instruction: a stripe is shared only by threads whose ids collide,
    /// and when two of them append at the same instant one read's recency update can be lost or
    /// applied twice. That only blurs the order of reads that truly overlap; the map itself is
    /// never affected, and reads that do not overlap are always kept, in order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryAppend(long head, long tail, TNode node, long epoch)
    {
        if (tail - head >= Size)
        {
            return false;
        }

        ref ReadRecord record = ref Records[(int)tail & Mask];
        record.Epoch = epoch;
        Volatile.Write(ref record.Node, node);
        Volatile.Write(ref Tail, tail + 1); // publishes the record to the lock holder
        return true;
    }

    /// <summary>The newest node recorded and not yet applied, read from another thread.</summary>
    internal TNode? NewestPending() => NewestPending(Volatile.Read(ref Head), Volatile.Read(ref Tail));

    /// <summary>The epoch of the oldest unapplied read, or -1 when none is ready. Lock holder only.</summary>
    internal long HeadEpoch()
    {
        long head = Head;
        if (head == Volatile.Read(ref Tail))
        {
            return -1;
        }

        ref ReadRecord record = ref Records[(int)head & Mask];
        return Volatile.Read(ref record.Node) is null ? -1 : record.Epoch;
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
