namespace AsyncUtils;

/// <summary>
/// The lock-owned state of a cache: the ends of the recency and expiry lists and the counters.
/// <see cref="Head"/> and <see cref="Count"/> are also read without the lock (volatile).
/// </summary>
internal sealed class LruListState<TKey, TValue>
{
    internal LruNode<TKey, TValue>? Head;
    internal LruNode<TKey, TValue>? Tail;
    internal LruNode<TKey, TValue>? ExpiryHead;
    internal LruNode<TKey, TValue>? ExpiryTail;
    internal int Count;
    internal long Evictions;
    internal long Expirations;
    internal long LockedHits;
    internal long LockedMisses;
}
