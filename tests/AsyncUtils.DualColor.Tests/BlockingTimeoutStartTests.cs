using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

/// <summary>
/// A blocking wait's timeout counts from the call, not from when the thread got round to waiting:
/// the waiter is visible in the queue before its timer exists, and the clock may move in between
/// (seen in CI as a flaky <c>Blocking_timeouts_follow_the_injected_clock</c>: the clock advanced
/// by the whole timeout in that gap, and the wait then outlived its timeout).
/// </summary>
public sealed class BlockingTimeoutStartTests
{
    [Test]
    public async Task A_blocking_take_whose_timeout_passed_before_it_began_waiting_times_out_at_once()
    {
        var clock = new ClockThatMovesAfterTheFirstRead(TimeSpan.FromSeconds(5));
        var q = new DualQueue<int>(new DualQueueOptions<int> { Capacity = 1, TimeProvider = clock });

        bool taken = await Task.Run(() => q.TryTake(out _, TimeSpan.FromSeconds(5))).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.That(taken, Is.False);
        Assert.That(q.WaitingTakers, Is.Zero);
    }

    [Test]
    public async Task A_blocking_put_whose_timeout_passed_before_it_began_waiting_times_out_at_once()
    {
        var clock = new ClockThatMovesAfterTheFirstRead(TimeSpan.FromSeconds(3));
        var q = new DualQueue<int>(new DualQueueOptions<int> { Capacity = 1, TimeProvider = clock });
        q.Put(1);

        bool put = await Task.Run(() => q.TryPut(2, TimeSpan.FromSeconds(3))).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.That(put, Is.False);
        Assert.That(q.WaitingPutters, Is.Zero);
        Assert.That(q.Count, Is.EqualTo(1));
    }

    [Test]
    public async Task A_blocking_take_waits_only_for_what_is_left_of_its_timeout()
    {
        var clock = new ClockThatMovesAfterTheFirstRead(TimeSpan.FromSeconds(2));
        var q = new DualQueue<int>(new DualQueueOptions<int> { Capacity = 1, TimeProvider = clock });

        Task<bool> take = Task.Run(() => q.TryTake(out _, TimeSpan.FromSeconds(5)));
        TestHelpers.WaitUntil(() => q.WaitingTakers == 1 && clock.Reads >= 2, "the taker waits");
        clock.Advance(TimeSpan.FromSeconds(3)); // 2 s passed before the wait began: 3 s were left
        Assert.That(await take.WaitAsync(TimeSpan.FromSeconds(10)), Is.False);
    }

    /// <summary>A fake clock that jumps once, on the second read: time passing between the call and its wait.</summary>
    private sealed class ClockThatMovesAfterTheFirstRead(TimeSpan jump) : FakeTimeProvider
    {
        private int _reads;

        public int Reads => Volatile.Read(ref _reads);

        public override long GetTimestamp()
        {
            if (Interlocked.Increment(ref _reads) == 2)
            {
                Advance(jump);
            }

            return base.GetTimestamp();
        }
    }
}
