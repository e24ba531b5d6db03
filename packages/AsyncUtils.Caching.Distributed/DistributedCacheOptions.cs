namespace AsyncUtils;

/// <summary>How <see cref="DistributedTaskCache{TValue}"/> and <see cref="DistributedCoroutineCache{TValue}"/> use their second level.</summary>
/// <typeparam name="TValue">The type of the cached values.</typeparam>
public sealed class DistributedCacheOptions<TValue>
{
    /// <summary>
    /// Turns values into bytes. <see langword="null"/> (the default) uses UTF-8 for <see cref="string"/> and the
    /// bytes themselves for <see cref="byte"/>[]; any other type needs one (see <see cref="CacheSerializers"/>).
    /// </summary>
    public ICacheSerializer<TValue>? Serializer { get; set; }

    /// <summary>
    /// How long a result lives in the second level, counted from when its call completed.
    /// <see langword="null"/> or <see cref="Timeout.InfiniteTimeSpan"/>: no expiry; <see cref="TimeSpan.Zero"/>:
    /// nothing is written. The first level's own time to live is set in its options.
    /// </summary>
    public TimeSpan? TimeToLive { get; set; }

    /// <summary>
    /// A per-result time to live for the second level: <see langword="null"/> uses <see cref="TimeToLive"/>,
    /// <see cref="TimeSpan.Zero"/> does not write this result. Runs once per successful call; an exception
    /// from it skips the write and is reported through <see cref="SecondLevelFailed"/>.
    /// </summary>
    public Func<string, TValue, TimeSpan?>? TimeToLiveSelector { get; set; }

    /// <summary>
    /// The largest serialized value written to the second level, in bytes (default 1 MiB, as HybridCache).
    /// A larger value still reaches the callers and the first level; its write is skipped and reported.
    /// </summary>
    public int MaxValueBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Told about every second-level problem the cache absorbed: a read or write that failed (the store is
    /// down), a value that failed to serialize or exceeded <see cref="MaxValueBytes"/>, stored bytes that
    /// failed to deserialize (treated as a miss), an invalidation that did not reach the store. The key and
    /// the exception are passed; an exception thrown by the callback is swallowed.
    /// </summary>
    public Action<string, Exception>? SecondLevelFailed { get; set; }
}
