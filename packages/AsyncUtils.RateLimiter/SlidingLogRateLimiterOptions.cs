namespace AsyncUtils;

/// <summary>
/// Settings for a <see cref="SlidingLogRateLimiter"/>. The limiter copies them when it is created;
/// changing this object afterwards has no effect (use <see cref="SlidingLogRateLimiter.SetWindows"/>
/// and <see cref="SlidingLogRateLimiter.QueueLimit"/> to change a running limiter).
/// </summary>
/// <example>
/// <code>
/// var limiter = new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions
/// {
///     Windows = { new(10, TimeSpan.FromSeconds(1)), new(100, TimeSpan.FromMinutes(1)) },
///     QueueLimit = 1000,
/// });
/// </code>
/// </example>
public sealed class SlidingLogRateLimiterOptions
{
    /// <summary>
    /// The limits, all enforced at once: a request is granted only when every window has room for
    /// it, and then counts against every window. At least one is required.
    /// </summary>
    public IList<SlidingLogWindow> Windows { get; } = new List<SlidingLogWindow>();

    /// <summary>
    /// The most permits (summed over requests, as in the BCL limiters) that may wait in the FIFO
    /// queue. A request that cannot be granted at once and does not fit in the queue fails at once
    /// with a lease that carries the retry-after time. Zero (the default) means nobody waits. A
    /// zero-permit request waits for one permit to be free, so it takes one place.
    /// </summary>
    public int QueueLimit { get; set; }

    /// <summary>The clock and timers; <see langword="null"/> means <see cref="System.TimeProvider.System"/>.</summary>
    public TimeProvider? TimeProvider { get; set; }

    /// <summary>
    /// A name for this limiter, added as the <c>asyncutils.rate_limiter.name</c> tag to its metrics
    /// (meter <c>AsyncUtils.RateLimiter</c>) so that several limiters can be told apart;
    /// <see langword="null"/> (the default) adds no tag.
    /// </summary>
    public string? Name { get; set; }
}
