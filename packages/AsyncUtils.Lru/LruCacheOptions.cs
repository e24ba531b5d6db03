namespace AsyncUtils;

/// <summary>
/// Optional settings for <see cref="LruCache{TKey, TValue}"/>, <see cref="TtlLruCache{TKey, TValue}"/> and <see cref="S3FifoCache{TKey, TValue}"/>.
/// The cache copies them when it is created; changing the object afterwards has no effect.
/// </summary>
/// <typeparam name="TKey">The cache's key type.</typeparam>
/// <typeparam name="TValue">The cache's value type.</typeparam>
public sealed class LruCacheOptions<TKey, TValue>
{
    /// <summary>The key comparer; <see langword="null"/> uses <see cref="EqualityComparer{T}.Default"/>.</summary>
    public IEqualityComparer<TKey>? Comparer { get; set; }

    /// <summary>
    /// Called once for every entry that leaves the cache, with the reason, so that an owner can
    /// dispose values; also once for each value a <c>GetOrAdd</c> factory created that lost the
    /// race to store it (<see cref="CacheRemovalReason.Discarded"/>). It runs on the thread whose operation removed the entry, after the cache's
    /// lock is released, so it may call back into the cache. If it throws, the cache is left
    /// consistent, the other removals of that operation are still reported, and the exception
    /// (an <see cref="AggregateException"/> when several threw) surfaces from that operation.
    /// </summary>
    public Action<TKey, TValue, CacheRemovalReason>? OnRemoved { get; set; }

    /// <summary>
    /// Counts hits and misses, read with <c>GetStatistics()</c>. Off by default: counting costs a
    /// few nanoseconds per read, so it is paid only by those who ask for it.
    /// </summary>
    public bool TrackStatistics { get; set; }

    /// <summary>
    /// A name for this cache, added as the <c>asyncutils.cache.name</c> tag to its metrics (meter
    /// <c>AsyncUtils.Lru</c>) so that several caches can be told apart; <see langword="null"/> (the
    /// default) adds no tag. The hit and miss counts are published only with <see cref="TrackStatistics"/>.
    /// </summary>
    public string? Name { get; set; }
}
