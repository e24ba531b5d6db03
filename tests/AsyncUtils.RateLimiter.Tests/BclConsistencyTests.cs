using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;
using static AsyncUtils.Tests.TestClock;

namespace AsyncUtils.Tests;

/// <summary>
/// Regression tests for the places where the limiter broke the contract of the BCL limiters it
/// stands in for, or its own documentation: the exception type of a cancelled request, counters
/// that must only grow, the retry-after of a refusal behind a queue, and a zero-permit request
/// with no queue.
/// </summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public sealed class BclConsistencyTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    private readonly FakeTimeProvider _time = new();

    // ---- Cancellation throws TaskCanceledException, as every BCL limiter does. ----

    [Test]
    public async Task A_request_cancelled_while_queued_throws_TaskCanceledException_carrying_its_token()
    {
        using var limiter = Limiter(_time, 1, Second, queueLimit: 2);
        limiter.AttemptAcquire();
        using var cts = new CancellationTokenSource();
        ValueTask<RateLimitLease> awaited = limiter.AcquireAsync(1, cts.Token);
        ValueTask<RateLimitLease> asTask = limiter.AcquireAsync(1, cts.Token);

        cts.Cancel();
        TaskCanceledException? direct = await Assert.ThrowsAsync<TaskCanceledException>(async () => await awaited);
        TaskCanceledException? viaTask = await Assert.ThrowsAsync<TaskCanceledException>(() => asTask.AsTask());
        Assert.That(direct!.CancellationToken, Is.EqualTo(cts.Token));
        Assert.That(viaTask!.CancellationToken, Is.EqualTo(cts.Token));
    }

    [Test]
    public async Task A_request_cancelled_before_queueing_throws_TaskCanceledException_carrying_its_token()
    {
        using var limiter = Limiter(_time, 1, Second, queueLimit: 2);
        limiter.AttemptAcquire();
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        TaskCanceledException? ex = await Assert.ThrowsAsync<TaskCanceledException>(() => limiter.AcquireAsync(1, cts.Token).AsTask());
        Assert.That(ex!.CancellationToken, Is.EqualTo(cts.Token));
    }

    [Test]
    public async Task A_grant_handed_back_after_a_late_cancellation_throws_TaskCanceledException_carrying_its_token()
    {
        using var limiter = Limiter(_time, 1, Second, queueLimit: 2);
        limiter.AttemptAcquire();
        using var cts = new CancellationTokenSource();
        ValueTask<RateLimitLease> granted = limiter.AcquireAsync(1, cts.Token);
        _time.Advance(Second);
        Assert.That(granted.IsCompleted, Is.True, "granted by the timer");

        cts.Cancel();
        TaskCanceledException? ex = await Assert.ThrowsAsync<TaskCanceledException>(async () => await granted);
        Assert.That(ex!.CancellationToken, Is.EqualTo(cts.Token));
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True, "the permit was handed back");
    }

    // ---- Totals only grow. ----

    [Test]
    public void Total_successful_leases_never_goes_down_when_a_late_cancellation_hands_a_grant_back()
    {
        using var limiter = Limiter(_time, 2, Second, queueLimit: 10);
        limiter.AttemptAcquire(2);
        using var cts = new CancellationTokenSource();
        ValueTask<RateLimitLease> granted = limiter.AcquireAsync(2, cts.Token);
        _time.Advance(Second);
        Assert.That(granted.IsCompleted, Is.True, "granted by the timer, not yet read");
        long before = limiter.GetStatistics()!.TotalSuccessfulLeases;

        cts.Cancel();
        RateLimiterStatistics after = limiter.GetStatistics()!;
        Assert.That(after.TotalSuccessfulLeases, Is.GreaterThanOrEqualTo(before), "a total is a counter: it never goes down");
        Assert.That(after.TotalSuccessfulLeases, Is.EqualTo(1), "the handed-back grant never reached its caller, so it is not a successful lease");
        Assert.That(after.TotalFailedLeases, Is.Zero, "a cancelled request is not a failed lease either, as in the BCL limiters");
        Assert.That(after.CurrentAvailablePermits, Is.EqualTo(2));
    }

    [Test]
    public async Task A_queued_grant_counts_as_successful_once_its_caller_receives_it()
    {
        using var limiter = Limiter(_time, 1, Second, queueLimit: 10);
        limiter.AttemptAcquire();
        using var cts = new CancellationTokenSource();
        ValueTask<RateLimitLease> cancellable = limiter.AcquireAsync(1, cts.Token);
        ValueTask<RateLimitLease> plain = limiter.AcquireAsync(1);

        _time.Advance(Second);
        Assert.That((await cancellable).IsAcquired, Is.True);
        Assert.That(limiter.GetStatistics()!.TotalSuccessfulLeases, Is.EqualTo(2));
        cts.Cancel();
        Assert.That(limiter.GetStatistics()!.TotalSuccessfulLeases, Is.EqualTo(2), "a token firing after the read changes nothing");

        _time.Advance(Second);
        Assert.That(plain.IsCompleted, Is.True);
        Assert.That(limiter.GetStatistics()!.TotalSuccessfulLeases, Is.EqualTo(3), "a grant that cannot be handed back counts at once");
        Assert.That((await plain).IsAcquired, Is.True);
        Assert.That(limiter.GetStatistics()!.TotalSuccessfulLeases, Is.EqualTo(3), "and only once");
    }

    // ---- Retry-after behind a queue is exact. ----

    [Test]
    public void Retry_after_behind_a_queued_request_is_when_the_queue_lets_this_request_through()
    {
        // 1 per second, queue 1: the queued request is served at 1 s, so the next one can be at 2 s.
        using var limiter = Limiter(_time, 1, Second, queueLimit: 1);
        limiter.AttemptAcquire();
        ValueTask<RateLimitLease> queued = limiter.AcquireAsync(1);

        RateLimitLease refused = limiter.AttemptAcquire();
        Assert.That(RetryAfter(refused), Is.EqualTo(TimeSpan.FromSeconds(2)));
        ValueTask<RateLimitLease> queueFull = limiter.AcquireAsync(1);
        Assert.That(RetryAfter(queueFull.Result), Is.EqualTo(TimeSpan.FromSeconds(2)));

        _time.Advance(Second);
        Assert.That(queued.Result.IsAcquired, Is.True);
        _time.Advance(Second - Ms);
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.False, "1 ms before the retry-after");
        _time.Advance(Ms);
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True, "at the retry-after");
    }

    [Test]
    public void Retry_after_behind_several_queued_requests_counts_every_one_of_them()
    {
        using var limiter = Limiter(_time, 2, Second, queueLimit: 10);
        limiter.AttemptAcquire(2);
        ValueTask<RateLimitLease> a = limiter.AcquireAsync(2); // served at 1 s, when the t=0 permits leave
        ValueTask<RateLimitLease> b = limiter.AcquireAsync(1); // served at 2 s, when a's permits leave

        Assert.Multiple(() =>
        {
            Assert.That(RetryAfter(limiter.AttemptAcquire(1)), Is.EqualTo(TimeSpan.FromSeconds(2)), "one permit is left beside b at 2 s");
            Assert.That(RetryAfter(limiter.AttemptAcquire(2)), Is.EqualTo(TimeSpan.FromSeconds(3)), "two permits only when b's leaves at 3 s");
        });

        _time.Advance(Second);
        _time.Advance(Second);
        Assert.That(a.Result.IsAcquired && b.Result.IsAcquired, Is.True);
        _time.Advance(Second - Ms);
        Assert.That(limiter.AttemptAcquire(2).IsAcquired, Is.False);
        _time.Advance(Ms);
        Assert.That(limiter.AttemptAcquire(2).IsAcquired, Is.True);
    }

    [Test]
    public void Retry_after_behind_a_queue_is_exact_with_several_windows()
    {
        // 1 per 100 ms and 2 per second. t=0: one grant. a fits at 100 ms; b must wait for the
        // 1 s window (grants at 0 and 100 ms) until 1000 ms; a newcomer then waits for b's
        // 100 ms window and for the 100 ms grant to leave the 1 s window: 1100 ms.
        using var limiter = new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions
        {
            Windows = { new(1, TimeSpan.FromMilliseconds(100)), new(2, Second) },
            QueueLimit = 10,
            TimeProvider = _time,
        });
        limiter.AttemptAcquire();
        ValueTask<RateLimitLease> a = limiter.AcquireAsync(1);
        ValueTask<RateLimitLease> b = limiter.AcquireAsync(1);
        Assert.That(RetryAfter(limiter.AttemptAcquire()), Is.EqualTo(TimeSpan.FromMilliseconds(1100)));

        _time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.That(a.IsCompleted, Is.True);
        Assert.That(RetryAfter(limiter.AttemptAcquire()), Is.EqualTo(TimeSpan.FromMilliseconds(1000)), "the same instant, seen 100 ms later");
        _time.Advance(TimeSpan.FromMilliseconds(900));
        Assert.That(b.IsCompleted, Is.True);
        _time.Advance(TimeSpan.FromMilliseconds(99));
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.False);
        _time.Advance(Ms);
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
    }

    [Test]
    public void Retry_after_behind_a_queued_zero_permit_request_ignores_the_permits_it_does_not_take()
    {
        using var limiter = Limiter(_time, 1, Second, queueLimit: 1);
        limiter.AttemptAcquire();
        ValueTask<RateLimitLease> probe = limiter.AcquireAsync(0); // served at 1 s, takes nothing
        Assert.That(RetryAfter(limiter.AttemptAcquire()), Is.EqualTo(Second));
        _time.Advance(Second);
        Assert.That(probe.Result.IsAcquired, Is.True);
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
    }

    [Test]
    public async Task Retry_after_behind_a_queue_follows_cancellations_hand_backs_and_new_limits()
    {
        // The simulation of the queue is cached; every change to the queue, the log or the limits must show.
        using var limiter = Limiter(_time, 1, Second, queueLimit: 10);
        limiter.AttemptAcquire();
        using var first = new CancellationTokenSource();
        ValueTask<RateLimitLease> a = limiter.AcquireAsync(1, first.Token); // served at 1 s
        ValueTask<RateLimitLease> b = limiter.AcquireAsync(1);              // served at 2 s
        Assert.That(RetryAfter(limiter.AttemptAcquire()), Is.EqualTo(TimeSpan.FromSeconds(3)));
        Assert.That(RetryAfter(limiter.AttemptAcquire()), Is.EqualTo(TimeSpan.FromSeconds(3)), "the same from the cache");

        _time.Advance(Second);
        Assert.That(a.IsCompleted, Is.True, "a was granted at 1 s, not yet read");
        Assert.That(RetryAfter(limiter.AttemptAcquire()), Is.EqualTo(TimeSpan.FromSeconds(2)));
        first.Cancel(); // a's grant is handed back: b is served at once, at 1 s
        await Assert.ThrowsAsync<TaskCanceledException>(async () => await a);
        Assert.That(b.IsCompleted, Is.True);

        ValueTask<RateLimitLease> c = limiter.AcquireAsync(1); // served at 2 s
        Assert.That(RetryAfter(limiter.AttemptAcquire()), Is.EqualTo(TimeSpan.FromSeconds(2)), "b at 1 s, c at 2 s, then 3 s");
        limiter.SetWindows(new SlidingLogWindow(2, Second));
        Assert.That(c.IsCompleted, Is.True, "the raised limit serves c at once");
        ValueTask<RateLimitLease> d = limiter.AcquireAsync(1); // b and c hold both permits until 2 s
        Assert.That(RetryAfter(limiter.AttemptAcquire()), Is.EqualTo(Second), "d is served at 2 s beside room for one more");
        _time.Advance(Second);
        Assert.That(d.IsCompleted, Is.True);
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
    }

    [Test]
    public void A_grant_with_another_permit_left_allocates_nothing()
    {
        // The fixes above touch refusals, the queue and statistics only; the grant path stays allocation-free.
        using var limiter = Limiter(_time, 1_000_000, TimeSpan.FromHours(1), queueLimit: 10);
        for (int i = 0; i < 2_000; i++)
        {
            limiter.AttemptAcquire();
            _ = limiter.AcquireAsync().Result;
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1_000; i++)
        {
            limiter.AttemptAcquire();
            _ = limiter.AcquireAsync().Result;
        }

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
    }

    // ---- QueueLimit = 0 means nobody waits, whatever the permit count. ----

    [Test]
    public void With_no_queue_a_zero_permit_request_fails_at_once_instead_of_waiting()
    {
        using var limiter = Limiter(_time, 1, Second, queueLimit: 0);
        limiter.AttemptAcquire();
        ValueTask<RateLimitLease> probe = limiter.AcquireAsync(0);
        Assert.That(probe.IsCompletedSuccessfully, Is.True, "nobody waits with QueueLimit = 0");
        Assert.That(probe.Result.IsAcquired, Is.False);
        Assert.That(RetryAfter(probe.Result), Is.EqualTo(Second));
        Assert.That(limiter.GetStatistics()!.CurrentQueuedCount, Is.Zero);
    }

    [Test]
    public void A_queued_zero_permit_request_takes_one_place_in_the_queue()
    {
        using var limiter = Limiter(_time, 1, Second, queueLimit: 1);
        limiter.AttemptAcquire();
        ValueTask<RateLimitLease> probe = limiter.AcquireAsync(0);
        Assert.That(probe.IsCompleted, Is.False);
        Assert.That(limiter.GetStatistics()!.CurrentQueuedCount, Is.EqualTo(1));
        ValueTask<RateLimitLease> second = limiter.AcquireAsync(0);
        Assert.That(second.IsCompletedSuccessfully && !second.Result.IsAcquired, Is.True, "the queue is full: the queue stays bounded");

        _time.Advance(Second);
        Assert.That(probe.Result.IsAcquired, Is.True);
        Assert.That(limiter.GetStatistics()!.CurrentQueuedCount, Is.Zero);
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True, "the zero-permit grant took nothing");
    }
}
