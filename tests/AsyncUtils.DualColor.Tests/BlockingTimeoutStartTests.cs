using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

/// <summary>
/// On an injected clock a blocking wait's timeout is armed before the waiter can be seen in the
/// queue. Before, the waiter was queued first and its timer armed after: a test that saw the
/// waiter and advanced the clock in between lost the whole timeout (CI showed it as a flaky
/// <c>Blocking_timeouts_follow_the_injected_clock</c>), and the wait outlived its timeout.
/// </summary>
public sealed class BlockingTimeoutStartTests
{
    [Test]
    public async Task A_blocking_take_is_not_visible_as_waiting_before_its_timeout_is_armed()
    {
        using var clock = new ClockThatHoldsTimerCreation();
        var q = new DualQueue<int>(new DualQueueOptions<int> { Capacity = 1, TimeProvider = clock });

        Task<bool> take = Task.Run(() => q.TryTake(out _, TimeSpan.FromSeconds(5)));
        Assert.That(clock.Entered.Wait(TimeSpan.FromSeconds(10)), Is.True, "the timeout is armed");
        Assert.That(q.WaitingTakers, Is.Zero, "the taker is visible before its timeout exists");
        clock.Release.Set();

        TestHelpers.WaitUntil(() => q.WaitingTakers == 1, "the taker waits");
        clock.Advance(TimeSpan.FromSeconds(5)); // seen waiting, so its whole timeout counts from here at the latest
        Assert.That(await take.WaitAsync(TimeSpan.FromSeconds(10)), Is.False);
        Assert.That(q.WaitingTakers, Is.Zero);
    }

    [Test]
    public async Task A_blocking_put_is_not_visible_as_waiting_before_its_timeout_is_armed()
    {
        using var clock = new ClockThatHoldsTimerCreation();
        var q = new DualQueue<int>(new DualQueueOptions<int> { Capacity = 1, TimeProvider = clock });
        q.Put(1);

        Task<bool> put = Task.Run(() => q.TryPut(2, TimeSpan.FromSeconds(3)));
        Assert.That(clock.Entered.Wait(TimeSpan.FromSeconds(10)), Is.True, "the timeout is armed");
        Assert.That(q.WaitingPutters, Is.Zero, "the putter is visible before its timeout exists");
        clock.Release.Set();

        TestHelpers.WaitUntil(() => q.WaitingPutters == 1, "the putter waits");
        clock.Advance(TimeSpan.FromSeconds(3));
        Assert.That(await put.WaitAsync(TimeSpan.FromSeconds(10)), Is.False);
        Assert.That(q.WaitingPutters, Is.Zero);
        Assert.That(q.Count, Is.EqualTo(1), "the timed-out item never went in");
    }

    [Test]
    public async Task A_timeout_that_passes_before_the_waiter_could_queue_makes_it_time_out_without_queueing()
    {
        using var clock = new ClockThatHoldsTimerCreation(advanceAfterCreating: TimeSpan.FromSeconds(5));
        var q = new DualQueue<int>(new DualQueueOptions<int> { Capacity = 1, TimeProvider = clock });
        clock.Release.Set();

        Assert.That(await Task.Run(() => q.TryTake(out _, TimeSpan.FromSeconds(5))).WaitAsync(TimeSpan.FromSeconds(10)), Is.False);
        Assert.That(q.WaitingTakers, Is.Zero);
    }

    /// <summary>A fake clock whose CreateTimer signals, waits for the test, and may then let time pass.</summary>
    private sealed class ClockThatHoldsTimerCreation(TimeSpan advanceAfterCreating = default) : FakeTimeProvider, IDisposable
    {
        public ManualResetEventSlim Entered { get; } = new();

        public ManualResetEventSlim Release { get; } = new();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            Entered.Set();
            Release.Wait(TimeSpan.FromSeconds(10));
            ITimer timer = base.CreateTimer(callback, state, dueTime, period);
            if (advanceAfterCreating > TimeSpan.Zero)
            {
                Advance(advanceAfterCreating);
            }

            return timer;
        }

        public void Dispose()
        {
            Entered.Dispose();
            Release.Dispose();
        }
    }
}
