using System.Diagnostics;

namespace AsyncUtils;

/// <summary>
/// Reads a <see cref="TimeProvider"/>'s timestamps and converts between them and
/// <see cref="TimeSpan"/>, rounding so that a wait is never shorter than asked.
/// </summary>
internal sealed class Clock
{
    /// <summary>Timers are re-armed at least this often, so any due time is reachable.</summary>
    private static readonly TimeSpan MaxTimerDelay = TimeSpan.FromDays(1);

    private readonly bool _isSystem;
    private readonly long _frequency;

    internal Clock(TimeProvider timeProvider)
    {
        Provider = timeProvider;
        _isSystem = ReferenceEquals(timeProvider, TimeProvider.System);
        _frequency = timeProvider.TimestampFrequency;
        if (_frequency <= 0)
        {
            throw new ArgumentException("The time provider's TimestampFrequency must be positive.", nameof(timeProvider));
        }
    }

    internal TimeProvider Provider { get; }

    /// <summary>The current timestamp; for the system clock, read without a virtual call.</summary>
    internal long Now() => _isSystem ? Stopwatch.GetTimestamp() : Provider.GetTimestamp();

    /// <summary>The longest lockout: longer durations are treated as this (a century of 36,525 days).</summary>
    internal static readonly TimeSpan MaxDuration = TimeSpan.FromDays(36525);

    /// <summary>
    /// A non-negative duration in timestamp units, rounded up, capped at <see cref="MaxDuration"/>
    /// and at what the timestamps can hold (only a clock faster than about 2.9 GHz reaches that).
    /// </summary>
    internal long ToTimestampUnits(TimeSpan duration)
    {
        if (duration > MaxDuration)
        {
            duration = MaxDuration;
        }

        Int128 scaled = _frequency == TimeSpan.TicksPerSecond
            ? duration.Ticks
            : (((Int128)duration.Ticks * _frequency) + (TimeSpan.TicksPerSecond - 1)) / TimeSpan.TicksPerSecond;
        return scaled > long.MaxValue ? long.MaxValue : (long)scaled;
    }

    /// <summary><paramref name="now"/> plus <paramref name="units"/>, saturating instead of overflowing.</summary>
    internal static long After(long now, long units) => units > long.MaxValue - now ? long.MaxValue - 1 : now + units;

    /// <summary>The provider's current time plus <paramref name="delay"/>, saturating at <see cref="DateTimeOffset.MaxValue"/>.</summary>
    internal DateTimeOffset UtcNowPlus(TimeSpan delay)
    {
        DateTimeOffset now = Provider.GetUtcNow();
        return delay >= DateTimeOffset.MaxValue - now ? DateTimeOffset.MaxValue : now + delay;
    }

    /// <summary>A difference of timestamps as a <see cref="TimeSpan"/>, rounded up to the next tick.</summary>
    internal TimeSpan ToTimeSpan(long timestampDelta)
    {
        if (timestampDelta <= 0)
        {
            return TimeSpan.Zero;
        }

        if (_frequency == TimeSpan.TicksPerSecond)
        {
            return TimeSpan.FromTicks(timestampDelta);
        }

        Int128 scaled = ((Int128)timestampDelta * TimeSpan.TicksPerSecond) + (_frequency - 1);
        Int128 ticks = scaled / _frequency;
        return ticks >= TimeSpan.MaxValue.Ticks ? TimeSpan.MaxValue : TimeSpan.FromTicks((long)ticks);
    }

    /// <summary>
    /// The delay to give a timer so that it fires no earlier than <paramref name="remaining"/> from
    /// now: timers count whole milliseconds (a fraction is truncated), so the delay is rounded up.
    /// </summary>
    internal static TimeSpan TimerDelay(TimeSpan remaining)
    {
        if (remaining > MaxTimerDelay)
        {
            return MaxTimerDelay;
        }

        long ms = (remaining.Ticks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond;
        return TimeSpan.FromMilliseconds(Math.Max(ms, 1));
    }

    /// <summary>Creates a disarmed timer that does not capture the caller's execution context.</summary>
    internal ITimer CreateTimer(TimerCallback callback, object state)
    {
        if (ExecutionContext.IsFlowSuppressed())
        {
            return Provider.CreateTimer(callback, state, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        using (ExecutionContext.SuppressFlow())
        {
            return Provider.CreateTimer(callback, state, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }
}
