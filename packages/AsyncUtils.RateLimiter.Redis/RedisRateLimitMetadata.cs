using System.Threading.RateLimiting;

namespace AsyncUtils;

/// <summary>Metadata that a <see cref="RedisSlidingLogRateLimiter"/> puts on its leases.</summary>
public static class RedisRateLimitMetadata
{
    /// <summary>
    /// On a lease granted through Redis: the Redis server's time (from <c>TIME</c>, clamped so that
    /// it never goes backwards) at which the grant was decided, the timestamp the limit is counted
    /// on. "At most N in any window" holds exactly on these times, whatever the clients' clocks.
    /// Absent on leases granted without Redis (<see cref="RedisRateLimiterFailureMode.Open"/> or
    /// <see cref="RedisRateLimiterFailureMode.LocalFallback"/>).
    /// </summary>
    public static MetadataName<DateTimeOffset> GrantedAt { get; } = MetadataName.Create<DateTimeOffset>("ASYNCUTILS_REDIS_GRANTED_AT");
}
