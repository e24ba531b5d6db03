namespace AsyncUtils;

/// <summary>
/// Settings for a <see cref="RedisSlidingLogRateLimiter"/>. The limiter copies them when it is
/// created; changing this object afterwards has no effect (use
/// <see cref="RedisSlidingLogRateLimiter.SetWindows"/> to change a running limiter).
/// </summary>
/// <example>
/// <code>
/// var limiter = new RedisSlidingLogRateLimiter(connection, new RedisSlidingLogRateLimiterOptions
/// {
///     Name = "github-api",
///     Windows = { new(100, TimeSpan.FromSeconds(1)) },
///     QueueLimit = 1000,
/// });
/// </code>
/// </example>
public sealed class RedisSlidingLogRateLimiterOptions
{
    /// <summary>
    /// The name shared by every limiter (in every process) that enforces this limit; required and
    /// not empty. All keys are <c>asyncutils:rl:{Name}:...</c>: they share one hash tag, so they
    /// live on one Redis Cluster node. Limiters of one name must use the same windows.
    /// </summary>
    public string Name { get; set; } = string.Empty;

    /// <summary>
    /// The limits, all enforced at once across the fleet: a request is granted only when every
    /// window has room for it, and then counts against every window. At least one is required.
    /// </summary>
    public IList<SlidingLogWindow> Windows { get; } = new List<SlidingLogWindow>();

    /// <summary>
    /// The most permits (summed over requests) that may wait in this process (a zero-permit request
    /// takes one place). Zero (the default) means nobody waits. The queue itself is fleet-wide
    /// and FIFO in order of arrival at the Redis server.
    /// </summary>
    public int QueueLimit { get; set; }

    /// <summary>What the limiter does while Redis cannot be reached; <see cref="RedisRateLimiterFailureMode.Closed"/> by default.</summary>
    public RedisRateLimiterFailureMode FailureMode { get; set; } = RedisRateLimiterFailureMode.Closed;

    /// <summary>
    /// Whether to refuse every grant for one longest window after Redis is found to have lost the
    /// limiter's state (a restart without persistence, a failover to a replica that missed writes,
    /// an evicted key, a server whose run id changed). On by default: grants made before the loss
    /// may still be inside their windows, so granting at once could over-grant.
    /// </summary>
    public bool QuarantineAfterDataLoss { get; set; } = true;

    /// <summary>
    /// With <see cref="RedisRateLimiterFailureMode.LocalFallback"/>: the share of each window's
    /// limit that this process grants on its own while Redis cannot be reached, greater than 0
    /// and at most 1 (the default; at least one permit per window). Set it to <c>1 / processes</c>
    /// to keep the fleet within the limit during an outage.
    /// </summary>
    public double LocalFallbackShare { get; set; } = 1.0;

    /// <summary>
    /// How long a queued request's ticket stays in the fleet-wide queue past the moment its
    /// process promised to come back (5 seconds by default). A process that dies leaves the
    /// queue after at most this long, so nobody behind it is stranded.
    /// </summary>
    public TimeSpan TicketTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The local timers (queued requests' wake-ups, retries, the fallback's hold-off);
    /// <see langword="null"/> means <see cref="System.TimeProvider.System"/>. Decisions never use
    /// it: they use the Redis server's <c>TIME</c>, so a skewed local clock cannot over-grant.
    /// </summary>
    public TimeProvider? TimeProvider { get; set; }
}
