using System.Threading.RateLimiting;
using StackExchange.Redis;

namespace AsyncUtils;

/// <summary>
/// <see cref="RateLimitPartition"/> helpers for <see cref="RedisSlidingLogRateLimiter"/>: one
/// fleet-wide limit per partition key (for example per API key or per tenant).
/// </summary>
public static class RedisRateLimitPartition
{
    /// <summary>
    /// A partition whose limiter is a <see cref="RedisSlidingLogRateLimiter"/> created on first use
    /// from <paramref name="factory"/>. Give each partition its own
    /// <see cref="RedisSlidingLogRateLimiterOptions.Name"/> (for example derived from the key).
    /// </summary>
    /// <typeparam name="TKey">The partition key type.</typeparam>
    /// <param name="partitionKey">The partition key.</param>
    /// <param name="connection">The Redis connection every partition's limiter uses.</param>
    /// <param name="factory">Makes the options for a partition key; called once per partition.</param>
    /// <returns>The partition.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="connection"/> or <paramref name="factory"/> is <see langword="null"/>.</exception>
    public static RateLimitPartition<TKey> GetSlidingLogLimiter<TKey>(TKey partitionKey, IConnectionMultiplexer connection, Func<TKey, RedisSlidingLogRateLimiterOptions> factory)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(factory);
        return RateLimitPartition.Get(partitionKey, key => new RedisSlidingLogRateLimiter(connection, factory(key)));
    }

    /// <summary>
    /// A <see cref="PartitionedRateLimiter{TResource}"/> keyed by a limiter name: each resource maps
    /// to a name, and each name gets one <see cref="RedisSlidingLogRateLimiter"/> (shared with every
    /// other process that uses that name) whose options come from <paramref name="configure"/>.
    /// </summary>
    /// <typeparam name="TResource">The resource type (for example an HTTP request).</typeparam>
    /// <param name="connection">The Redis connection.</param>
    /// <param name="nameOf">Maps a resource to its limiter's name.</param>
    /// <param name="configure">Fills the options for a name (the name is already set; add the windows).</param>
    /// <returns>The partitioned limiter; dispose it to dispose every partition's limiter.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public static PartitionedRateLimiter<TResource> Create<TResource>(
        IConnectionMultiplexer connection,
        Func<TResource, string> nameOf,
        Action<string, RedisSlidingLogRateLimiterOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(nameOf);
        ArgumentNullException.ThrowIfNull(configure);
        return PartitionedRateLimiter.Create<TResource, string>(resource => GetSlidingLogLimiter(nameOf(resource), connection, name =>
        {
            var options = new RedisSlidingLogRateLimiterOptions { Name = name };
            configure(name, options);
            return options;
        }), StringComparer.Ordinal);
    }
}
