using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace AsyncUtils;

/// <summary>
/// A bounded ring of reads not yet applied to the recency list, shared by the threads whose ids
/// map to it. A reader claims slot <see cref="Tail"/> with one compare-and-swap to
/// <c>Tail + 1</c> (only while the ring is not full), then writes its record into the claimed slot;
/// the lock holder applies written slots in order and advances <see cref="Head"/>, stopping at a
/// slot that is claimed but not written yet. So <c>Head &lt;= Tail &lt;= Head + Size</c> always
/// holds, no record is overwritten before it is applied, and <see cref="Tail"/> counts every
/// recorded read exactly. Reads on one stripe are applied in the order they claimed their slots;
/// the epoch stamped on each read orders reads across stripes (see <see cref="ReadClock"/>).
/// </summary>
internal sealed class ReadStripe<TNode>
    where TNode : class
{
    internal const int Size = 32;
    internal const int Mask = Size - 1;

    internal readonly ReadRecord[] Records = new ReadRecord[Size];

    // Claimed slots; only ever advanced by one, by compare-and-swap. Its value is also the count
    // of recorded hits.
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

    /// <summary>The newest node recorded and not yet applied, or <see langword="null"/> when none is pending (or it is not written yet).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal TNode? NewestPending(long head, long tail) =>
        tail <= head ? null : Volatile.Read(ref Records[(int)(tail - 1) & Mask].Node);

    /// <summary>
    /// Claims the slot at <paramref name="tail"/> and writes the read into it. False when the
    /// stripe is full or when another reader claimed that slot first (<paramref name="tail"/> is
    /// stale); the caller then reads <see cref="Tail"/> again. <paramref name="head"/> and
    /// <paramref name="tail"/> may be stale: the compare-and-swap succeeds only on the current tail,
    /// and the head only grows, so a stale head can only make the stripe look fuller than it is.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryAppend(long head, long tail, TNode node, long epoch)
    {
        if (tail - head >= Size || Interlocked.CompareExchange(ref Tail, tail + 1, tail) != tail)
        {
            return false;
        }

        // The slot was emptied by the lock holder before it published a Head past it (read above
        // with acquire semantics), so nothing unapplied is overwritten.
        ref ReadRecord record = ref Records[(int)tail & Mask];
        record.Epoch = epoch;
        Volatile.Write(ref record.Node, node); // publishes the record to the lock holder
        return true;
    }

    /// <summary>The newest node recorded and not yet applied, read from another thread.</summary>
    internal TNode? NewestPending() => NewestPending(Volatile.Read(ref Head), Volatile.Read(ref Tail));

    /// <summary>True when a claimed slot is waiting to be applied. Lock holder only.</summary>
    internal bool HasPending => Head != Volatile.Read(ref Tail);

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

    /// <summary>
    /// Takes the oldest unapplied read, or returns <see langword="null"/> when there is none or its
    /// slot is claimed but not written yet (its reader is still between the two steps; the read is
    /// applied by a later drain). Lock holder only.
    /// </summary>
    internal TNode? TryTake()
    {
        long head = Head;
        if (head == Volatile.Read(ref Tail))
        {
            return null;
        }

        ref ReadRecord record = ref Records[(int)head & Mask];
        TNode? node = Volatile.Read(ref record.Node);
        if (node is null)
        {
            return null;
        }

        // Empty the slot before publishing the new head: a reader that sees the new head may
        // claim this slot again at once.
        record.Node = null;
        Volatile.Write(ref Head, head + 1);
        return node;
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
