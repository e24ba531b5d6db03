namespace AsyncUtils;

/// <summary>
/// The recency and expiry links of one entry, owned by the cache's lock. Kept apart from the
/// <see cref="LruEntry{TKey, TValue}"/> that readers touch, so that the lock holder rewriting
/// links never dirties the cache line a reader on another core is about to read.
/// </summary>
internal sealed class LruNode<TKey, TValue>
{
    internal readonly LruEntry<TKey, TValue> Entry;

    // Recency list: Prev is towards the most recent end.
    internal LruNode<TKey, TValue>? Prev;
    internal LruNode<TKey, TValue>? Next;

    // Expiry list (TTL caches only): oldest write first.
    internal LruNode<TKey, TValue>? ExpiryPrev;
    internal LruNode<TKey, TValue>? ExpiryNext;

    // Set under the lock when the entry leaves the cache; buffered reads of it are then ignored.
    internal bool Unlinked;

    internal LruNode(TKey key, TValue value, long expiresAt)
    {
        Entry = new LruEntry<TKey, TValue>(key, value, expiresAt, this);
    }

    internal TKey Key => Entry.Key;

    internal TValue Value => Entry.Value;

    internal long ExpiresAt => Entry.ExpiresAt;
}
