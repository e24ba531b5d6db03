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
        IsCoarse = _isSystem && CoarseClock.IsAvailable;
        _frequency = timeProvider.TimestampFrequency;
        if (_frequency <= 0)
        {
            throw new ArgumentException("The time provider's TimestampFrequency must be positive.", nameof(timeProvider));
        }
    }

    internal TimeProvider Provider { get; }

    /// <summary>
    /// Whether grants may be stamped from <see cref="CoarseClock"/>: only for
    /// <see cref="TimeProvider.System"/>, whose timestamps are the coarse clock's timeline, and only
    /// where that clock is available. Any other provider keeps exact timestamps.
    /// </summary>
    internal bool IsCoarse { get; }

    /// <summary>The current timestamp; for the system clock, read without a virtual call.</summary>
    internal long Now() => _isSystem ? Stopwatch.GetTimestamp() : Provider.GetTimestamp();

    /// <summary>A duration in timestamp units, rounded up.</summary>
    internal long ToTimestampUnits(TimeSpan duration)
    {
        if (_frequency == TimeSpan.TicksPerSecond)
        {
            return duration.Ticks;
        }

        Int128 scaled = ((Int128)duration.Ticks * _frequency) + (TimeSpan.TicksPerSecond - 1);
        return (long)(scaled / TimeSpan.TicksPerSecond);
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
