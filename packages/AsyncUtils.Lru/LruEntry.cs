namespace AsyncUtils;

/// <summary>
/// What the map holds and a lock-free reader touches. Nothing in it changes after construction,
/// so a reader always sees a consistent key, value and expiry; a write stores a new entry.
/// </summary>
internal sealed class LruEntry<TKey, TValue>
{
    internal readonly TKey Key;
    internal readonly TValue Value;
    internal readonly long ExpiresAt;
    internal readonly LruNode<TKey, TValue> Node;

    internal LruEntry(TKey key, TValue value, long expiresAt, LruNode<TKey, TValue> node)
    {
        Key = key;
        Value = value;
        ExpiresAt = expiresAt;
        Node = node;
    }
}
