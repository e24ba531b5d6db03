namespace AsyncUtils;

/// <summary>Settings for a <see cref="RedisLockout"/>, read when it is created.</summary>
public sealed class RedisLockoutOptions
{
    /// <summary>The longest lockout a <see cref="RedisLockoutOptions.MaxDuration"/> may be: a century (36,525 days), as for <see cref="Lockout"/>.</summary>
    internal static readonly TimeSpan LongestMaxDuration = TimeSpan.FromDays(36525);

    /// <summary>
    /// The name the fleet shares: every <see cref="RedisLockout"/> with this name on the same Redis
    /// server (or cluster) is one lockout. Required, not empty. The key and the channel are
    /// <c>asyncutils:lockout:{Name}:until</c> and <c>asyncutils:lockout:{Name}:events</c>; the
    /// braces make the name a hash tag, so both live on one Redis Cluster slot.
    /// </summary>
    public required string Name { get; set; }

    /// <summary>
    /// The in-process gate's settings (<see cref="LockoutOptions.Fifo"/>, and the
    /// <see cref="LockoutOptions.TimeProvider"/> whose clock is compared with the server's);
    /// <see langword="null"/> for the defaults.
    /// </summary>
    public LockoutOptions? Local { get; set; }

    /// <summary>
    /// The longest lockout this process applies or shares, from now: a longer <c>LockFor</c>, and a
    /// longer shared lockout received from Redis, are cut to this, so that one wrong value cannot
    /// lock the fleet out for days. Greater than zero, at most a century; one hour by default.
    /// </summary>
    public TimeSpan MaxDuration { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// How often the shared end is re-read and the clock offset re-measured while connected: a
    /// safety net for a lost message or a stepped clock. 30 seconds by default;
    /// <see cref="Timeout.InfiniteTimeSpan"/> turns it off (reconnects still catch up).
    /// </summary>
    public TimeSpan ResyncInterval { get; set; } = TimeSpan.FromSeconds(30);
}
