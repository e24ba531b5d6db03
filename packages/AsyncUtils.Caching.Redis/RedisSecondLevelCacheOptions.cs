namespace AsyncUtils;

/// <summary>How a <see cref="RedisSecondLevelCache"/> names its keys, leases its calls and keeps its local time.</summary>
public sealed class RedisSecondLevelCacheOptions
{
    /// <summary>
    /// Put in front of every key and of the channel name (default <c>"asyncutils:cache:"</c>); processes that
    /// share a cache use the same prefix.
    /// </summary>
    public string KeyPrefix { get; set; } = "asyncutils:cache:";

    /// <summary>
    /// How long a process that stopped renewing (it died, or lost Redis) keeps a key's call before another
    /// process takes over (default 30 seconds). A live owner renews its lease every third of it while its call
    /// runs, so a call may take longer than this. The lease itself expires on Redis's clock.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The clock of the local waits and timers: a waiter's bound before it re-checks the lease, and the owner's
    /// renewal timer (default <see cref="TimeProvider.System"/>). Lease and value expiries run on Redis's clock.
    /// </summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// How many keys whose invalidation failed (Redis unreachable) this process remembers to replay when Redis
    /// returns (default 10,000). While a key's invalidation is pending this process neither reads nor writes that
    /// key in Redis. Past this bound the process stops reading and writing Redis values altogether (every read is a
    /// miss, nothing is stored) for the rest of its level's life, since it no longer knows which keys are stale;
    /// it still replays the invalidations it kept. Must be positive.
    /// </summary>
    public int MaxPendingInvalidations { get; set; } = 10_000;
}
