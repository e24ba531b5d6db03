namespace AsyncUtils;

/// <summary>
/// One entry of an <see cref="S3FifoCache{TKey, TValue}"/>. Key and value never change after
/// construction (a write stores a new node), so a lock-free reader always sees a consistent pair.
/// <see cref="Freq"/> is written by readers with plain stores; the links and <see cref="Queue"/>
/// belong to the cache's lock.
/// </summary>
internal sealed class S3FifoNode<TKey, TValue>
{
    internal const byte InNone = 0;
    internal const byte InSmall = 1;
    internal const byte InMain = 2;

    internal readonly TKey Key;
    internal readonly TValue Value;

    /// <summary>Hits since the entry was inserted or last aged, capped at 3. Racy by design.</summary>
    internal int Freq;

    // FIFO links, owned by the lock: Prev is towards the newest end.
    internal S3FifoNode<TKey, TValue>? Prev;
    internal S3FifoNode<TKey, TValue>? Next;
    internal byte Queue;

    internal S3FifoNode(TKey key, TValue value)
    {
        Key = key;
        Value = value;
    }
}
