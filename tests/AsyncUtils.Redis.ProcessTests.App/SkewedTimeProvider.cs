namespace AsyncUtils.Redis.ProcessTests.App;

/// <summary>
/// The system clock shifted by a fixed offset: what a process whose clock runs fast (positive
/// offset) or slow (negative) sees. Both the wall clock and the timestamp move by the offset, so a
/// limiter that reads either one sees the skew; timers keep real durations.
/// </summary>
public sealed class SkewedTimeProvider : TimeProvider
{
    private readonly TimeSpan _offset;
    private readonly long _timestampOffset;

    /// <summary>Creates a clock <paramref name="offset"/> ahead of the system's (behind when negative).</summary>
    public SkewedTimeProvider(TimeSpan offset)
    {
        _offset = offset;
        _timestampOffset = (long)(offset.TotalSeconds * System.TimestampFrequency);
    }

    /// <inheritdoc />
    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + _offset;

    /// <inheritdoc />
    public override long GetTimestamp() => System.GetTimestamp() + _timestampOffset;

    /// <inheritdoc />
    public override long TimestampFrequency => System.TimestampFrequency;
}
