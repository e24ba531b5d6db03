using System.Runtime.CompilerServices;

namespace AsyncUtils.Shared.Caching;

/// <summary>
/// The cache's clock: the <see cref="System.TimeProvider"/>'s timestamps, or, for
/// <see cref="TimeProvider.System"/>, <see cref="Environment.TickCount64"/> (milliseconds), which
/// costs a few nanoseconds where <c>Stopwatch.GetTimestamp</c> can cost twenty on a virtual machine.
/// Both are monotonic; expiry is only ever compared within one clock.
/// </summary>
internal readonly struct CacheClock
{
    private readonly TimeProvider? _custom;
    private readonly long _frequency;

    internal CacheClock(TimeProvider? timeProvider)
    {
        Provider = timeProvider ?? TimeProvider.System;
        _custom = ReferenceEquals(Provider, TimeProvider.System) ? null : Provider;
        _frequency = _custom?.TimestampFrequency ?? 1000;
    }

    internal TimeProvider Provider { get; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal long Now() => _custom is null ? Environment.TickCount64 : _custom.GetTimestamp();

    /// <summary>Converts a positive duration to clock ticks, rounding up so that nothing expires early.</summary>
    internal long ToTicks(TimeSpan duration)
    {
        double ticks = Math.Ceiling(duration.Ticks * ((double)_frequency / TimeSpan.TicksPerSecond));
        return ticks >= long.MaxValue / 4 ? long.MaxValue / 4 : Math.Max(1, (long)ticks);
    }
}
