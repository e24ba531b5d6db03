namespace AsyncUtils;

/// <summary>
/// Which entry a size-bounded cache (a <c>TaskCache</c> or <c>CoroutineCache</c> with a
/// <c>MaxSize</c>) evicts when it needs room.
/// </summary>
public enum CacheEvictionPolicy
{
    /// <summary>
    /// Exactly the least recently used entry (<see cref="LruCache{TKey, TValue}"/>). Every hit
    /// records its recency, which costs a few nanoseconds more per hit than <see cref="S3Fifo"/>.
    /// The default.
    /// </summary>
    Lru = 0,

    /// <summary>
    /// S3-FIFO: new entries go through a small probation queue and only those read again while in
    /// it move on to the main queue, so a burst of one-time keys cannot flush the entries read
    /// often. A hit is a dictionary lookup and a plain store, cheaper than <see cref="Lru"/>'s; the
    /// order is approximate (the entry evicted is not necessarily the least recently used one),
    /// and on most real workloads the hit ratio is higher.
    /// </summary>
    S3Fifo = 1,
}
