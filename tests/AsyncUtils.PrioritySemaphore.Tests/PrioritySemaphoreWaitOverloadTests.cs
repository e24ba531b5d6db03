using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

/// <summary>The waits a SemaphoreSlim user reaches for: Wait(), Wait(token), WaitAsync(timeout[, token]).</summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public sealed class PrioritySemaphoreWaitOverloadTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    private readonly FakeTimeProvider _time = new();

    private PrioritySemaphore Create(int initialCount, int maxCount = int.MaxValue) => new(initialCount, maxCount, _time);

    [Test]
    public void Wait_takes_a_free_permit_at_once_and_otherwise_blocks_until_a_release()
    {
        var semaphore = Create(1);
        semaphore.Wait();
        Assert.That(semaphore.CurrentCount, Is.Zero);

        var blocked = new Thread(() => semaphore.Wait());
        blocked.Start();
        Assert.That(SpinWait.SpinUntil(() => semaphore.WaitingCount == 1, Bound), Is.True);
        Assert.That(blocked.Join(50), Is.False, "no permit yet");
        semaphore.Release();
        Assert.That(blocked.Join(Bound), Is.True);
        Assert.That(semaphore.CurrentCount, Is.Zero, "the blocked thread holds the permit");
    }

    [Test]
    public void Wait_with_a_token_throws_when_cancelled_and_leaves_the_queue()
    {
        var semaphore = Create(0);
        using var cts = new CancellationTokenSource();
        Exception? caught = null;
        var blocked = new Thread(() => caught = Assert.Catch(() => semaphore.Wait(cts.Token)));
        blocked.Start();
        Assert.That(SpinWait.SpinUntil(() => semaphore.WaitingCount == 1, Bound), Is.True);
        cts.Cancel();
        Assert.That(blocked.Join(Bound), Is.True);
        Assert.That(caught, Is.InstanceOf<OperationCanceledException>());
        Assert.That(semaphore.WaitingCount, Is.Zero);
        semaphore.Release();
        Assert.That(semaphore.CurrentCount, Is.EqualTo(1), "the cancelled waiter took nothing");

        Assert.Throws<OperationCanceledException>(() => semaphore.Wait(cts.Token), "an already-cancelled token takes nothing");
        Assert.That(semaphore.CurrentCount, Is.EqualTo(1));
    }

    [Test]
    public void A_blocking_wait_under_a_synchronization_context_that_never_runs_posts_does_not_deadlock()
    {
        var semaphore = Create(0);
        bool entered = false;
        var blocked = new Thread(() =>
        {
            SynchronizationContext.SetSynchronizationContext(new NeverRunsContext());
            semaphore.Wait();
            entered = true;
        });
        blocked.Start();
        Assert.That(SpinWait.SpinUntil(() => semaphore.WaitingCount == 1, Bound), Is.True);
        semaphore.Release();
        Assert.That(blocked.Join(Bound), Is.True);
        Assert.That(entered, Is.True);
    }

    [Test]
    public async Task WaitAsync_with_a_timeout_returns_false_when_the_clock_passes_it_and_leaves_the_queue()
    {
        var semaphore = Create(0);
        ValueTask<bool> waiting = semaphore.WaitAsync(TimeSpan.FromSeconds(2));
        Assert.That(waiting.IsCompleted, Is.False);
        _time.Advance(TimeSpan.FromSeconds(2) - Ms);
        Assert.That(waiting.IsCompleted, Is.False, "not before the timeout");
        _time.Advance(Ms);
        Assert.That(await waiting.AsTask().WaitAsync(Bound), Is.False);
        Assert.That(semaphore.WaitingCount, Is.Zero);
        semaphore.Release();
        Assert.That(semaphore.CurrentCount, Is.EqualTo(1), "the timed-out waiter did not swallow the release");
    }

    [Test]
    public async Task WaitAsync_with_a_timeout_returns_true_when_granted_in_time_and_keeps_the_permit_after_the_timeout()
    {
        var semaphore = Create(0);
        ValueTask<bool> waiting = semaphore.WaitAsync(TimeSpan.FromSeconds(2), CancellationToken.None);
        semaphore.Release();
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.That(await waiting.AsTask().WaitAsync(Bound), Is.True);
        Assert.That(semaphore.CurrentCount, Is.Zero, "the waiter holds the permit");
    }

    [Test]
    public async Task WaitAsync_with_a_zero_timeout_only_tries_and_an_infinite_one_waits_for_a_release()
    {
        var semaphore = Create(1);
        Assert.That(semaphore.WaitAsync(TimeSpan.Zero).Result, Is.True);
        ValueTask<bool> tried = semaphore.WaitAsync(TimeSpan.Zero);
        Assert.That(tried.IsCompletedSuccessfully && !tried.Result, Is.True, "nothing free: false at once");
        Assert.That(semaphore.WaitingCount, Is.Zero, "a zero timeout never queues");

        ValueTask<bool> forever = semaphore.WaitAsync(Timeout.InfiniteTimeSpan);
        _time.Advance(TimeSpan.FromDays(1000));
        Assert.That(forever.IsCompleted, Is.False);
        semaphore.Release();
        Assert.That(await forever.AsTask().WaitAsync(Bound), Is.True);
    }

    [Test]
    public async Task WaitAsync_with_a_timeout_is_cancelled_by_its_token_and_leaves_the_queue()
    {
        var semaphore = Create(0);
        using var cts = new CancellationTokenSource();
        ValueTask<bool> waiting = semaphore.WaitAsync(TimeSpan.FromSeconds(10), cts.Token);
        cts.Cancel();
        await Assert.CatchAsync<OperationCanceledException>(async () => await waiting);
        Assert.That(semaphore.WaitingCount, Is.Zero);
        _time.Advance(TimeSpan.FromSeconds(20));
        semaphore.Release();
        Assert.That(semaphore.CurrentCount, Is.EqualTo(1));

        ValueTask<bool> already = semaphore.WaitAsync(TimeSpan.FromSeconds(1), cts.Token);
        Assert.That(already.IsCanceled, Is.True, "an already-cancelled token takes nothing even when a permit is free");
        Assert.That(semaphore.CurrentCount, Is.EqualTo(1));
    }

    [Test]
    public async Task Timed_waits_are_served_in_priority_order_with_the_other_waiters()
    {
        var semaphore = Create(0);
        ValueTask<bool> low = semaphore.WaitAsync(5, TimeSpan.FromSeconds(10), CancellationToken.None);
        ValueTask plain = semaphore.WaitAsync(0, CancellationToken.None);
        ValueTask<bool> high;
        using (PriorityContext.Enter(-5))
        {
            high = semaphore.WaitAsync(TimeSpan.FromSeconds(10));
        }

        semaphore.Release();
        Assert.That(await high.AsTask().WaitAsync(Bound), Is.True);
        Assert.That(plain.IsCompleted || low.IsCompleted, Is.False);
        semaphore.Release();
        await plain.AsTask().WaitAsync(Bound);
        Assert.That(low.IsCompleted, Is.False);
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.That(await low.AsTask().WaitAsync(Bound), Is.False);
    }

    [Test]
    public void A_blocking_wait_times_out_on_the_semaphores_clock()
    {
        var semaphore = Create(0);
        bool? result = null;
        var blocked = new Thread(() => result = semaphore.Wait(TimeSpan.FromSeconds(3)));
        blocked.Start();
        Assert.That(SpinWait.SpinUntil(() => semaphore.WaitingCount == 1, Bound), Is.True);
        _time.Advance(TimeSpan.FromSeconds(3) - Ms);
        Assert.That(blocked.Join(50), Is.False, "not before the timeout");
        _time.Advance(Ms);
        Assert.That(blocked.Join(Bound), Is.True);
        Assert.That(result, Is.False);
        Assert.That(semaphore.WaitingCount, Is.Zero);
    }

    [Test]
    public void Timeouts_are_validated_as_SemaphoreSlim_does_naming_the_argument_before_the_token_is_checked()
    {
        var semaphore = Create(1);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        TimeSpan[] bad = [TimeSpan.FromMilliseconds(-2), TimeSpan.MinValue, TimeSpan.FromMilliseconds((double)int.MaxValue + 1), TimeSpan.MaxValue];
        foreach (TimeSpan timeout in bad)
        {
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => semaphore.WaitAsync(timeout))!.ParamName, Is.EqualTo("timeout"));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => semaphore.WaitAsync(timeout, cts.Token))!.ParamName, Is.EqualTo("timeout"));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => semaphore.WaitAsync(3, timeout, cts.Token))!.ParamName, Is.EqualTo("timeout"));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => semaphore.Wait(timeout, cts.Token))!.ParamName, Is.EqualTo("timeout"));
        }

        Assert.That(semaphore.CurrentCount, Is.EqualTo(1), "bad input took nothing");
        Assert.That(semaphore.WaitAsync(TimeSpan.FromMilliseconds(int.MaxValue)).Result, Is.True, "int.MaxValue milliseconds is allowed");
        Assert.That(semaphore.WaitAsync(TimeSpan.FromMilliseconds(-1)).IsCompleted, Is.False, "-1 ms is infinite");
        Assert.Throws<ArgumentNullException>(() => _ = new PrioritySemaphore(0, 1, null!));
    }

    private sealed class NeverRunsContext : SynchronizationContext
    {
        public override void Post(SendOrPostCallback d, object? state)
        {
        }

        public override void Send(SendOrPostCallback d, object? state) => throw new NotSupportedException();
    }
}
