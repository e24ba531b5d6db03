using System.Runtime.InteropServices;

namespace AsyncUtils.Lru;

/// <summary>
/// A bounded buffer of reads not yet applied to the recency list. Readers claim a slot with one
/// compare-and-swap on <see cref="Tail"/>; the lock holder applies the slots in order and advances
/// <see cref="Head"/>. A thread always uses the same stripe, so its own reads keep their order.
/// </summary>
internal sealed class ReadStripe<TNode>
    where TNode : class
{
    internal const int Size = 32;
    internal const int Mask = Size - 1;

    internal readonly TNode?[] Slots = new TNode?[Size];

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

    [StructLayout(LayoutKind.Sequential, Size = 64)]
    private readonly struct Padding
    {
    }
}
