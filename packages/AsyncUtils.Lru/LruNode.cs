namespace AsyncUtils.Lru;

/// <summary>
/// One entry. Key, value and expiry never change after construction, so a reader that found the
/// node in the map without a lock always sees a consistent entry; a write stores a new node.
/// The links are owned by the cache's lock.
/// </summary>
internal sealed class LruNode<TKey, TValue>
{
    internal readonly TKey Key;
    internal readonly TValue Value;
    internal readonly long ExpiresAt;

    // Recency list: Prev is towards the most recent end.
    internal LruNode<TKey, TValue>? Prev;
    internal LruNode<TKey, TValue>? Next;

    // Expiry list (TTL caches only): oldest write first.
    internal LruNode<TKey, TValue>? ExpiryPrev;
    internal LruNode<TKey, TValue>? ExpiryNext;

    // Set under the lock when the node leaves the cache; buffered reads of it are then ignored.
    internal bool Unlinked;

    internal LruNode(TKey key, TValue value, long expiresAt)
    {
        Key = key;
        Value = value;
        ExpiresAt = expiresAt;
    }
}
