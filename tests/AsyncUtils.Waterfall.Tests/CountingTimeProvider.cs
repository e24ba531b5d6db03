using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

/// <summary>A <see cref="FakeTimeProvider"/> that counts how often any of its timers fires.</summary>
internal sealed class CountingTimeProvider : TimeProvider
{
    private int _ticks;

    public FakeTimeProvider Fake { get; } = new();

    public int Ticks => Volatile.Read(ref _ticks);

    public override long TimestampFrequency => Fake.TimestampFrequency;

    public override long GetTimestamp() => Fake.GetTimestamp();

    public override DateTimeOffset GetUtcNow() => Fake.GetUtcNow();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        Fake.CreateTimer(s =>
        {
            Interlocked.Increment(ref _ticks);
            callback(s);
        }, state, dueTime, period);
}
