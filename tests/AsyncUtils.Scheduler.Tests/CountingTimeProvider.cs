using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

/// <summary>A FakeTimeProvider that counts timers created, re-armed and fired, to prove there is no polling.</summary>
internal sealed class CountingTimeProvider : TimeProvider
{
    private int _created;
    private int _changes;
    private int _fires;

    public FakeTimeProvider Fake { get; } = new(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public int Created => Volatile.Read(ref _created);

    public int Changes => Volatile.Read(ref _changes);

    public int Fires => Volatile.Read(ref _fires);

    public override DateTimeOffset GetUtcNow() => Fake.GetUtcNow();

    public override long GetTimestamp() => Fake.GetTimestamp();

    public override long TimestampFrequency => Fake.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => Fake.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        Interlocked.Increment(ref _created);
        return new CountingTimer(this, Fake.CreateTimer(s => { Interlocked.Increment(ref _fires); callback(s); }, state, dueTime, period));
    }

    private sealed class CountingTimer(CountingTimeProvider owner, ITimer inner) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            Interlocked.Increment(ref owner._changes);
            return inner.Change(dueTime, period);
        }

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
