using System.Globalization;
using System.Runtime.InteropServices;

namespace AsyncUtils;

/// <summary>
/// One limit of a <see cref="SlidingLogRateLimiter"/>: in any window of length <see cref="Period"/>,
/// at most <see cref="PermitLimit"/> permits are granted. A limiter enforces all of its windows at
/// once (for example 10 per second and 100 per minute).
/// </summary>
/// <remarks>
/// The window is half-open: a permit granted at time <c>t</c> counts against the window until
/// <c>t + Period</c> and is free again exactly at <c>t + Period</c>.
/// </remarks>
[StructLayout(LayoutKind.Auto)]
public readonly struct SlidingLogWindow : IEquatable<SlidingLogWindow>
{
    /// <summary>The longest supported <see cref="Period"/>: 3650 days.</summary>
    internal static readonly TimeSpan MaxPeriod = TimeSpan.FromDays(3650);

    /// <summary>Creates a window that grants at most <paramref name="permitLimit"/> permits in any <paramref name="period"/>.</summary>
    /// <param name="permitLimit">The most permits granted in any window; greater than zero.</param>
    /// <param name="period">The length of the window; greater than zero and at most 3650 days.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="permitLimit"/> or <paramref name="period"/> is out of range.</exception>
    public SlidingLogWindow(int permitLimit, TimeSpan period)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(permitLimit);
        if (period <= TimeSpan.Zero || period > MaxPeriod)
        {
            throw new ArgumentOutOfRangeException(nameof(period), period, "The period must be greater than zero and at most 3650 days.");
        }

        PermitLimit = permitLimit;
        Period = period;
    }

    /// <summary>The most permits granted in any window of length <see cref="Period"/>.</summary>
    public int PermitLimit { get; }

    /// <summary>The length of the sliding window.</summary>
    public TimeSpan Period { get; }

    /// <summary>Whether this value was made by the constructor (the default value is not a valid window).</summary>
    internal bool IsValid => PermitLimit > 0 && Period > TimeSpan.Zero && Period <= MaxPeriod;

    /// <inheritdoc/>
    public bool Equals(SlidingLogWindow other) => PermitLimit == other.PermitLimit && Period == other.Period;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is SlidingLogWindow other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(PermitLimit, Period);

    /// <summary>Describes the window, for example <c>10 per 00:00:01</c>.</summary>
    /// <returns>The permit limit and the period.</returns>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{PermitLimit} per {Period}");

    /// <summary>Compares two windows by limit and period.</summary>
    /// <param name="left">The first window.</param>
    /// <param name="right">The second window.</param>
    public static bool operator ==(SlidingLogWindow left, SlidingLogWindow right) => left.Equals(right);

    /// <summary>Compares two windows by limit and period.</summary>
    /// <param name="left">The first window.</param>
    /// <param name="right">The second window.</param>
    public static bool operator !=(SlidingLogWindow left, SlidingLogWindow right) => !left.Equals(right);
}
