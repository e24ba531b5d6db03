namespace AsyncUtils;

/// <summary>Settings for a <see cref="Lockout"/>, copied when it is created.</summary>
public sealed class LockoutOptions
{
    /// <summary>
    /// When <see langword="true"/>, waiters are let in one after another in exactly the order they
    /// arrived: each waiter's continuation runs (up to its first <c>await</c>) before the next is
    /// released, and callers arriving while that is under way queue behind them. When
    /// <see langword="false"/> (the default), every waiter is released at once when the lockout
    /// ends and their continuations run in parallel on the thread pool, in no promised order.
    /// </summary>
    public bool Fifo { get; set; }

    /// <summary>The clock and timers; <see langword="null"/> means <see cref="System.TimeProvider.System"/>.</summary>
    public TimeProvider? TimeProvider { get; set; }

    /// <summary>
    /// A name for this lockout, added as the <c>asyncutils.lockout.name</c> tag to its metrics (meter
    /// <c>AsyncUtils.Lockout</c>) so that several lockouts can be told apart; <see langword="null"/>
    /// (the default) adds no tag.
    /// </summary>
    public string? Name { get; set; }
}
