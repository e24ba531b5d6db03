using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that lets a test wait until the host has armed a deadline,
/// so that advancing the clock is never a race with the host creating its timer.
/// </summary>
internal sealed class WatchedTimeProvider : TimeProvider
{
    private readonly Channel<bool> _created = Channel.CreateUnbounded<bool>();

    public FakeTimeProvider Fake { get; } = new();

    public override long TimestampFrequency => Fake.TimestampFrequency;

    public override long GetTimestamp() => Fake.GetTimestamp();

    public override DateTimeOffset GetUtcNow() => Fake.GetUtcNow();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ITimer timer = Fake.CreateTimer(callback, state, dueTime, period);
        _created.Writer.TryWrite(true);
        return timer;
    }

    /// <summary>Waits until <paramref name="count"/> more timers have been created (bounded).</summary>
    public async Task WaitForTimersAsync(int count)
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        for (int i = 0; i < count; i++)
        {
            try
            {
                await _created.Reader.ReadAsync(bound.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail("the host never armed its deadline");
            }
        }
    }

    public void Advance(TimeSpan by) => Fake.Advance(by);
}
