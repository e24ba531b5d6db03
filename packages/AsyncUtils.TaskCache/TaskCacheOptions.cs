namespace AsyncUtils;

/// <summary>
/// Optional settings for a <see cref="TaskCache{TKey, TResult}"/>. The cache copies them when it
/// is created; changing the object afterwards has no effect. Each setter rejects a bad value at once,
/// with an <see cref="ArgumentOutOfRangeException"/>.
/// </summary>
/// <typeparam name="TKey">The cache's key type.</typeparam>
/// <typeparam name="TResult">The cached result type.</typeparam>
public sealed class TaskCacheOptions<TKey, TResult>
{
    private TimeSpan? _timeToLive;
    private int? _maxSize;
    private CacheEvictionPolicy _evictionPolicy;
    private TimeSpan? _timeout;

    /// <summary>
    /// How long a completed result stays cached, counted from the moment the call completed (not
    /// from when it started). <see langword="null"/> (the default) or
    /// <see cref="System.Threading.Timeout.InfiniteTimeSpan"/>: until invalidated or evicted.
    /// <see cref="TimeSpan.Zero"/>: results are not kept at all; the cache then only shares calls
    /// that are in flight (single flight). Reads do not extend a result's life.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative and not <see cref="System.Threading.Timeout.InfiniteTimeSpan"/>.</exception>
    public TimeSpan? TimeToLive
    {
        get => _timeToLive;
        set => _timeToLive = OptionChecks.TimeToLive(value, nameof(TimeToLive));
    }

    /// <summary>
    /// Lets a result choose its own time to live, given the key and the result: return
    /// <see langword="null"/> for <see cref="TimeToLive"/>, <see cref="TimeSpan.Zero"/> for "do not
    /// cache this result", <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> for "keep it", or
    /// a positive duration. It runs once per successful call, after the call completed and before
    /// anyone sees the result, outside every lock. If it throws or returns a negative duration, the
    /// call is treated as failed with that exception (an <see cref="InvalidOperationException"/> for
    /// a negative duration). Failures do not go through it.
    /// </summary>
    public Func<TKey, TResult, TimeSpan?>? TimeToLiveSelector { get; set; }

    /// <summary>
    /// The most entries the cache holds, in flight or completed; beyond that an entry chosen by
    /// <see cref="EvictionPolicy"/> is evicted (by default the least recently used one; built on
    /// <c>AsyncUtils.Lru</c>). <see langword="null"/> (the default): no bound.
    /// Evicting an entry whose call is still in flight does not cancel the call: those already
    /// holding its task still get the result, which is then not cached.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int? MaxSize
    {
        get => _maxSize;
        set
        {
            if (value <= 0)
            {
                throw new ArgumentOutOfRangeException(nameof(MaxSize), value, "MaxSize must be greater than zero, or null for no bound.");
            }

            _maxSize = value;
        }
    }

    /// <summary>
    /// Which entry <see cref="MaxSize"/> evicts when the cache needs room; ignored without a
    /// <see cref="MaxSize"/>. <see cref="CacheEvictionPolicy.Lru"/> (the default): exactly the
    /// least recently used entry; every hit records its recency. <see cref="CacheEvictionPolicy.S3Fifo"/>:
    /// the faster choice, a hit costs a lookup and a plain store; the order is approximate (new
    /// entries that are not read again leave first, so a scan of one-time keys does not flush the
    /// entries read often), and on most workloads the hit ratio is higher. Both keep the cache
    /// within <see cref="MaxSize"/>, and an evicted call in flight is never cancelled.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a defined <see cref="CacheEvictionPolicy"/>.</exception>
    public CacheEvictionPolicy EvictionPolicy
    {
        get => _evictionPolicy;
        set => _evictionPolicy = OptionChecks.EvictionPolicy(value, nameof(EvictionPolicy));
    }

    /// <summary>
    /// Whether a call that fails (faults or is cancelled) is removed from the cache once it completes.
    /// <see langword="true"/> by default: the next caller starts a new call. Callers that were already
    /// sharing the failed call still get its exception. <see langword="false"/> caches the failed
    /// task like a result, for <see cref="TimeToLive"/>.
    /// </summary>
    public bool EvictOnException { get; set; } = true;

    /// <summary>
    /// The longest a call may run. When it passes, the token given to the function is cancelled,
    /// the key is freed at once (the next caller starts a new call), and everyone sharing the call
    /// gets a <see cref="TimeoutException"/>, whether or not the function honours its token; a late
    /// result is dropped. <see langword="null"/> (the default) or
    /// <see cref="System.Threading.Timeout.InfiniteTimeSpan"/>: no timeout.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero, or negative and not <see cref="System.Threading.Timeout.InfiniteTimeSpan"/>.</exception>
    public TimeSpan? Timeout
    {
        get => _timeout;
        set => _timeout = OptionChecks.CallTimeout(value, nameof(Timeout));
    }

    /// <summary>The clock for time to live and timeouts; <see langword="null"/> uses <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider? TimeProvider { get; set; }

    /// <summary>The key comparer; <see langword="null"/> uses <see cref="EqualityComparer{T}.Default"/>.</summary>
    public IEqualityComparer<TKey>? Comparer { get; set; }

    /// <summary>
    /// Counts hits, misses, coalesced requests and calls in flight, read with
    /// <see cref="TaskCache{TKey, TResult}.GetStatistics"/>. Off by default: counting a hit costs an
    /// interlocked add, a few nanoseconds on a path that otherwise costs little more.
    /// </summary>
    public bool TrackStatistics { get; set; }

    /// <summary>
    /// A name for this cache, added as the <c>asyncutils.cache.name</c> tag to its metrics (meter
    /// <c>AsyncUtils.TaskCache</c>) so that several caches can be told apart; <see langword="null"/> (the
    /// default) adds no tag. Requests, coalesced requests and calls in flight are published only
    /// with <see cref="TrackStatistics"/>; the size, and evictions of a bounded cache, always.
    /// </summary>
    public string? Name { get; set; }
}
