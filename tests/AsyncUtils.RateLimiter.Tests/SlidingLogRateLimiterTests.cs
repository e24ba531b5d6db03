using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;
using static AsyncUtils.Tests.TestClock;

namespace AsyncUtils.Tests;

// Each test gets its own fake clock.
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public sealed class SlidingLogRateLimiterTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    private readonly FakeTimeProvider _time = new();

    [Test]
    public void Options_are_validated_naming_the_argument()
    {
        Assert.That(Assert.Throws<ArgumentNullException>(() => _ = new SlidingLogRateLimiter(null!))!.ParamName, Is.EqualTo("options"));
        Assert.That(Assert.Throws<ArgumentException>(() => _ = new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions()))!.ParamName, Is.EqualTo("options"));
        Assert.That(
            Assert.Throws<ArgumentException>(() => _ = new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions { Windows = { default } }))!.ParamName,
            Is.EqualTo("options"));
        Assert.That(
            Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions { Windows = { new(1, Second) }, QueueLimit = -1 }))!.ParamName,
            Is.EqualTo("options"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SlidingLogWindow(0, Second))!.ParamName, Is.EqualTo("permitLimit"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SlidingLogWindow(1, TimeSpan.Zero))!.ParamName, Is.EqualTo("period"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SlidingLogWindow(1, TimeSpan.FromDays(3651)))!.ParamName, Is.EqualTo("period"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SlidingLogRateLimiter(1, Second, -1))!.ParamName, Is.EqualTo("queueLimit"));
    }

    [Test]
    public async Task A_request_for_more_permits_than_a_window_allows_is_rejected_and_the_limiter_stays_usable()
    {
        using var limiter = Limiter(_time, 3, Second);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => limiter.AttemptAcquire(4));
        Assert.That(ex!.ParamName, Is.EqualTo("permitCount"));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await limiter.AcquireAsync(4));
        Assert.Throws<ArgumentOutOfRangeException>(() => limiter.AttemptAcquire(-1));
        Assert.That(limiter.AttemptAcquire(3).IsAcquired, Is.True);
    }

    [Test]
    public void Permits_are_granted_up_to_the_limit_and_each_frees_exactly_one_period_after_its_grant()
    {
        using var limiter = Limiter(_time, 3, Second);
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
        _time.Advance(TimeSpan.FromMilliseconds(300));
        Assert.That(limiter.AttemptAcquire(2).IsAcquired, Is.True);

        RateLimitLease refused = limiter.AttemptAcquire();
        Assert.That(refused.IsAcquired, Is.False);
        Assert.That(RetryAfter(refused), Is.EqualTo(TimeSpan.FromMilliseconds(700)), "the first grant leaves the window 1 s after it was made");

        _time.Advance(TimeSpan.FromMilliseconds(700) - TimeSpan.FromTicks(1));
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.False, "one tick early");
        _time.Advance(TimeSpan.FromTicks(1));
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True, "exactly one period later");
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.False, "the two permits of t=300ms are still in the window");
        _time.Advance(TimeSpan.FromMilliseconds(300));
        Assert.That(limiter.AttemptAcquire(2).IsAcquired, Is.True);
    }

    [Test]
    public void The_window_slides_rather_than_resetting_at_fixed_boundaries()
    {
        // A fixed window of 1 s would allow 4 grants between 0.9 s and 1.1 s; a sliding one allows 2.
        using var limiter = Limiter(_time, 2, Second);
        _time.Advance(TimeSpan.FromMilliseconds(900));
        Assert.That(limiter.AttemptAcquire(2).IsAcquired, Is.True);
        _time.Advance(TimeSpan.FromMilliseconds(200));
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.False);
        Assert.That(RetryAfter(limiter.AttemptAcquire()), Is.EqualTo(TimeSpan.FromMilliseconds(800)));
    }

    [Test]
    public void A_granted_lease_says_when_the_next_permit_frees_and_the_room_left_case_is_a_shared_instance()
    {
        using var limiter = Limiter(_time, 2, Second);
        RateLimitLease first = limiter.AttemptAcquire();
        RateLimitLease second = limiter.AttemptAcquire();
        Assert.Multiple(() =>
        {
            Assert.That(first.IsAcquired && second.IsAcquired, Is.True);
            Assert.That(RetryAfter(first), Is.EqualTo(TimeSpan.Zero), "another permit was free right after this grant");
            Assert.That(RetryAfter(second), Is.EqualTo(Second), "this grant took the last permit; the first frees in 1 s");
            Assert.That(first.MetadataNames, Is.EqualTo(new[] { MetadataName.RetryAfter.Name }));
        });

        _time.Advance(TimeSpan.FromMilliseconds(1000));
        Assert.That(limiter.AttemptAcquire(), Is.SameAs(first), "a granted lease with room left is cached: no allocation");
    }

    [Test]
    public void A_refused_lease_carries_the_exact_wait_for_its_own_permit_count()
    {
        using var limiter = Limiter(_time, 3, Second);
        limiter.AttemptAcquire();
        _time.Advance(TimeSpan.FromMilliseconds(100));
        limiter.AttemptAcquire();
        _time.Advance(TimeSpan.FromMilliseconds(100));
        limiter.AttemptAcquire();

        RateLimitLease one = limiter.AttemptAcquire(1);
        RateLimitLease three = limiter.AttemptAcquire(3);
        Assert.Multiple(() =>
        {
            Assert.That(RetryAfter(one), Is.EqualTo(TimeSpan.FromMilliseconds(800)));
            Assert.That(RetryAfter(three), Is.EqualTo(TimeSpan.FromMilliseconds(1000)));
            Assert.That(Reason(one), Is.Not.Null.And.Not.Empty);
        });
    }

    [Test]
    public void Zero_permits_reports_whether_a_permit_is_free_without_taking_it()
    {
        using var limiter = Limiter(_time, 1, Second);
        Assert.That(limiter.AttemptAcquire(0).IsAcquired, Is.True);
        Assert.That(limiter.AttemptAcquire(0).IsAcquired, Is.True);
        Assert.That(limiter.AttemptAcquire(1).IsAcquired, Is.True);
        RateLimitLease none = limiter.AttemptAcquire(0);
        Assert.That(none.IsAcquired, Is.False);
        Assert.That(RetryAfter(none), Is.EqualTo(Second));
    }

    [Test]
    public void Several_windows_are_all_or_nothing()
    {
        // 2 per second and 3 per 10 seconds.
        using var limiter = new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions
        {
            Windows = { new(2, Second), new(3, TimeSpan.FromSeconds(10)) },
            TimeProvider = _time,
        });
        Assert.That(limiter.AttemptAcquire(2).IsAcquired, Is.True);
        _time.Advance(Second);
        RateLimitLease refused = limiter.AttemptAcquire(2);
        Assert.That(refused.IsAcquired, Is.False, "the per-second window has room for 2 but the 10 s window only for 1");
        Assert.That(RetryAfter(refused), Is.EqualTo(TimeSpan.FromSeconds(9)), "the first two grants leave the 10 s window at t=10s");

        // The refusal took nothing from the per-second window: one permit is still there for each window.
        Assert.That(limiter.AttemptAcquire(1).IsAcquired, Is.True);
        Assert.That(limiter.AttemptAcquire(1).IsAcquired, Is.False);
        Assert.That(limiter.GetStatistics()!.CurrentAvailablePermits, Is.Zero);

        _time.Advance(TimeSpan.FromSeconds(9));
        Assert.That(limiter.AttemptAcquire(2).IsAcquired, Is.True, "at t=10s the first two grants left both windows");
    }

    [Test]
    public async Task A_queued_request_is_woken_exactly_when_enough_permits_leave_the_window()
    {
        using var limiter = Limiter(_time, 2, Second, queueLimit: 10);
        limiter.AttemptAcquire();
        _time.Advance(TimeSpan.FromMilliseconds(250));
        limiter.AttemptAcquire();

        ValueTask<RateLimitLease> one = limiter.AcquireAsync(1);
        ValueTask<RateLimitLease> two = limiter.AcquireAsync(2);
        Assert.That(one.IsCompleted || two.IsCompleted, Is.False);

        _time.Advance(TimeSpan.FromMilliseconds(749));
        Assert.That(one.IsCompleted, Is.False, "1 ms before the first grant leaves");
        _time.Advance(Ms);
        Assert.That(one.IsCompleted, Is.True, "at t=1000ms the t=0 permit is free");
        Assert.That((await one).IsAcquired, Is.True);

        _time.Advance(TimeSpan.FromMilliseconds(250));
        Assert.That(two.IsCompleted, Is.False, "one permit is free at t=1250ms, but two are asked for");
        _time.Advance(TimeSpan.FromMilliseconds(749));
        Assert.That(two.IsCompleted, Is.False, "two permits are free only when the t=1000ms grant leaves too");
        _time.Advance(Ms);
        RateLimitLease lease = await two.AsTask().WaitAsync(Bound);
        Assert.That(lease.IsAcquired, Is.True);
        Assert.That(RetryAfter(lease), Is.EqualTo(TimeSpan.FromMilliseconds(1000)), "the grant at t=2000ms took both permits");
    }

    [Test]
    public async Task Waiters_are_served_in_arrival_order_and_newcomers_do_not_pass_them()
    {
        using var limiter = Limiter(_time, 3, Second, queueLimit: 10);
        limiter.AttemptAcquire(3);
        var order = new List<int>();
        ValueTask<RateLimitLease> big = limiter.AcquireAsync(3);
        ValueTask<RateLimitLease> small = limiter.AcquireAsync(1);

        RateLimitLease barging = limiter.AttemptAcquire(1);
        Assert.That(barging.IsAcquired, Is.False, "a queued request is ahead");
        Assert.That(RetryAfter(barging), Is.EqualTo(TimeSpan.FromSeconds(2)), "after both queued requests: the small one is served at 2 s beside room for one more");

        _time.Advance(Second);
        Assert.That(big.IsCompleted, Is.True);
        Assert.That(small.IsCompleted, Is.False, "the first waiter took all three permits");
        _time.Advance(Second);
        Assert.That((await big).IsAcquired && (await small).IsAcquired, Is.True);

        // Many single-permit waiters complete strictly in order.
        var tasks = new List<Task>();
        for (int i = 0; i < 9; i++)
        {
            int id = i;
            ValueTask<RateLimitLease> acquire = limiter.AcquireAsync(1);
            tasks.Add(acquire.AsTask().ContinueWith(_ => { lock (order) { order.Add(id); } }, TaskScheduler.Default));
            Assert.That(acquire.IsCompleted, Is.EqualTo(i < 2), "two permits were left at t=2s");
        }

        for (int step = 0; step < 3; step++)
        {
            _time.Advance(Second);
        }

        await Task.WhenAll(tasks).WaitAsync(Bound);
        Assert.That(order, Is.EquivalentTo(Enumerable.Range(0, 9)));
    }

    [Test]
    public void Queued_requests_complete_in_fifo_order_as_observed_at_each_grant()
    {
        using var limiter = Limiter(_time, 1, Second, queueLimit: 100);
        limiter.AttemptAcquire();
        var waiters = Enumerable.Range(0, 20).Select(_ => limiter.AcquireAsync(1)).ToList();
        for (int i = 0; i < waiters.Count; i++)
        {
            _time.Advance(Second);
            for (int j = 0; j < waiters.Count; j++)
            {
                Assert.That(waiters[j].IsCompleted, Is.EqualTo(j <= i), $"after {i + 1} s, waiter {j}");
            }
        }
    }

    [Test]
    public void The_queue_limit_counts_permits_and_a_request_that_does_not_fit_fails_at_once_with_retry_after()
    {
        using var limiter = Limiter(_time, 2, Second, queueLimit: 3);
        limiter.AttemptAcquire(2);
        ValueTask<RateLimitLease> a = limiter.AcquireAsync(2);
        ValueTask<RateLimitLease> b = limiter.AcquireAsync(1);
        ValueTask<RateLimitLease> c = limiter.AcquireAsync(1);
        Assert.That(a.IsCompleted || b.IsCompleted, Is.False);
        Assert.That(c.IsCompletedSuccessfully, Is.True);
        RateLimitLease refused = c.Result;
        Assert.That(refused.IsAcquired, Is.False);
        Assert.That(RetryAfter(refused), Is.EqualTo(TimeSpan.FromSeconds(2)), "a is served at 1 s, b at 2 s beside room for one more");
        Assert.That(limiter.GetStatistics()!.CurrentQueuedCount, Is.EqualTo(3));

        limiter.QueueLimit = 4;
        Assert.That(limiter.AcquireAsync(1).IsCompleted, Is.False, "a raised queue limit takes effect for the next request");
        Assert.Throws<ArgumentOutOfRangeException>(() => limiter.QueueLimit = -1);
    }

    [Test]
    public void With_no_queue_a_request_that_cannot_be_granted_fails_at_once()
    {
        using var limiter = Limiter(_time, 1, Second);
        Assert.That(limiter.AcquireAsync().Result.IsAcquired, Is.True);
        ValueTask<RateLimitLease> refused = limiter.AcquireAsync();
        Assert.That(refused.IsCompletedSuccessfully, Is.True);
        Assert.That(refused.Result.IsAcquired, Is.False);
        Assert.That(RetryAfter(refused.Result), Is.EqualTo(Second));
    }

    [Test]
    public async Task A_cancelled_waiter_leaves_the_queue_and_frees_its_place_for_the_next()
    {
        using var limiter = Limiter(_time, 1, Second, queueLimit: 1);
        limiter.AttemptAcquire();
        using var cts = new CancellationTokenSource();
        ValueTask<RateLimitLease> cancelled = limiter.AcquireAsync(1, cts.Token);
        Assert.That(limiter.AcquireAsync(1).Result.IsAcquired, Is.False, "the queue is full");

        cts.Cancel();
        await Assert.CatchAsync<OperationCanceledException>(async () => await cancelled);
        Assert.That(limiter.GetStatistics()!.CurrentQueuedCount, Is.Zero);

        ValueTask<RateLimitLease> next = limiter.AcquireAsync(1);
        Assert.That(next.IsCompleted, Is.False, "the place is free again");
        _time.Advance(Second);
        Assert.That((await next.AsTask().WaitAsync(Bound)).IsAcquired, Is.True);
    }

    [Test]
    public async Task Cancelling_the_head_of_the_queue_rearms_the_timer_for_the_next_waiter()
    {
        using var limiter = Limiter(_time, 2, Second, queueLimit: 10);
        limiter.AttemptAcquire();
        _time.Advance(TimeSpan.FromMilliseconds(500));
        limiter.AttemptAcquire();
        using var cts = new CancellationTokenSource();
        ValueTask<RateLimitLease> head = limiter.AcquireAsync(2, cts.Token);
        ValueTask<RateLimitLease> second = limiter.AcquireAsync(1);

        cts.Cancel();
        await Assert.CatchAsync<OperationCanceledException>(async () => await head);
        _time.Advance(TimeSpan.FromMilliseconds(499));
        Assert.That(second.IsCompleted, Is.False);
        _time.Advance(Ms);
        Assert.That((await second.AsTask().WaitAsync(Bound)).IsAcquired, Is.True, "woken when one permit frees, not when two do");
    }

    [Test]
    public void An_already_cancelled_token_is_refused_before_anything_is_taken()
    {
        using var limiter = Limiter(_time, 1, Second, queueLimit: 5);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.That(limiter.AcquireAsync(1, cts.Token).IsCanceled, Is.True);
        Assert.That(limiter.AttemptAcquire(1).IsAcquired, Is.True, "the cancelled request took nothing");
        Assert.That(limiter.AcquireAsync(1, cts.Token).IsCanceled, Is.True);
        Assert.That(limiter.GetStatistics()!.CurrentQueuedCount, Is.Zero, "and queued nothing");
    }

    [Test]
    public async Task A_waiter_cancelled_after_its_grant_but_before_reading_it_hands_the_permits_back()
    {
        using var limiter = Limiter(_time, 2, Second, queueLimit: 10);
        limiter.AttemptAcquire(2);
        using var cts = new CancellationTokenSource();
        ValueTask<RateLimitLease> granted = limiter.AcquireAsync(2, cts.Token);
        ValueTask<RateLimitLease> behind = limiter.AcquireAsync(1);

        _time.Advance(Second);
        Assert.That(granted.IsCompleted, Is.True, "granted by the timer");
        Assert.That(behind.IsCompleted, Is.False);

        cts.Cancel();
        Assert.That(behind.IsCompleted, Is.True, "the handed-back permits went to the next waiter at once");
        Assert.That(behind.Result.IsAcquired, Is.True);
        Assert.That(granted.IsCanceled, Is.True);
        await Assert.CatchAsync<OperationCanceledException>(async () => await granted);
        Assert.That(limiter.AttemptAcquire(1).IsAcquired, Is.True, "one of the two handed-back permits is left");
        Assert.That(limiter.AttemptAcquire(1).IsAcquired, Is.False);
    }

    [Test]
    public async Task A_grant_already_read_is_kept_when_the_token_fires_later()
    {
        using var limiter = Limiter(_time, 1, Second, queueLimit: 10);
        limiter.AttemptAcquire();
        using var cts = new CancellationTokenSource();
        ValueTask<RateLimitLease> waiting = limiter.AcquireAsync(1, cts.Token);
        _time.Advance(Second);
        RateLimitLease lease = await waiting;
        cts.Cancel();
        Assert.That(lease.IsAcquired, Is.True);
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.False, "the permit stayed spent");
    }

    [Test]
    public async Task Disposing_fails_queued_waiters_and_later_calls_throw()
    {
        var limiter = Limiter(_time, 1, Second, queueLimit: 10);
        limiter.AttemptAcquire();
        ValueTask<RateLimitLease> a = limiter.AcquireAsync(1);
        ValueTask<RateLimitLease> b = limiter.AcquireAsync(1);

        limiter.Dispose();
        RateLimitLease leaseA = await a.AsTask().WaitAsync(Bound);
        RateLimitLease leaseB = await b.AsTask().WaitAsync(Bound);
        Assert.Multiple(() =>
        {
            Assert.That(leaseA.IsAcquired || leaseB.IsAcquired, Is.False);
            Assert.That(Reason(leaseA), Does.Contain("disposed"));
            Assert.That(RetryAfter(leaseA), Is.Null, "a disposed limiter will never grant");
        });
        Assert.Throws<ObjectDisposedException>(() => limiter.AttemptAcquire());
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await limiter.AcquireAsync());
        Assert.Throws<ObjectDisposedException>(() => limiter.GetStatistics());
        Assert.Throws<ObjectDisposedException>(() => limiter.SetWindows(new SlidingLogWindow(1, Second)));
        limiter.Dispose();
        _time.Advance(TimeSpan.FromSeconds(5));
    }

    [Test]
    public async Task DisposeAsync_fails_queued_waiters_too()
    {
        var limiter = Limiter(_time, 1, Second, queueLimit: 10);
        limiter.AttemptAcquire();
        ValueTask<RateLimitLease> waiting = limiter.AcquireAsync(1);
        await limiter.DisposeAsync();
        Assert.That((await waiting.AsTask().WaitAsync(Bound)).IsAcquired, Is.False);
    }

    [Test]
    public void Statistics_count_grants_refusals_free_permits_and_queued_permits()
    {
        using var limiter = Limiter(_time, 3, Second, queueLimit: 5);
        limiter.AttemptAcquire(2);
        limiter.AttemptAcquire(2);
        _ = limiter.AcquireAsync(2);
        RateLimiterStatistics stats = limiter.GetStatistics()!;
        Assert.Multiple(() =>
        {
            Assert.That(stats.CurrentAvailablePermits, Is.EqualTo(1));
            Assert.That(stats.CurrentQueuedCount, Is.EqualTo(2));
            Assert.That(stats.TotalSuccessfulLeases, Is.EqualTo(1));
            Assert.That(stats.TotalFailedLeases, Is.EqualTo(1));
        });
        _time.Advance(Second);
        stats = limiter.GetStatistics()!;
        Assert.That(stats.CurrentAvailablePermits, Is.EqualTo(1), "the waiter took 2 of the 3 freed permits");
        Assert.That(stats.TotalSuccessfulLeases, Is.EqualTo(2));
        Assert.That(stats.CurrentQueuedCount, Is.Zero);
    }

    [Test]
    public void Idle_duration_is_null_while_a_permit_is_in_a_window_and_counts_from_when_the_last_one_left()
    {
        using var limiter = Limiter(_time, 2, Second, queueLimit: 2);
        _time.Advance(TimeSpan.FromSeconds(3));
        Assert.That(limiter.IdleDuration, Is.EqualTo(TimeSpan.FromSeconds(3)), "idle since creation");
        limiter.AttemptAcquire();
        Assert.That(limiter.IdleDuration, Is.Null);
        _time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.That(limiter.IdleDuration, Is.Null);
        _time.Advance(TimeSpan.FromMilliseconds(501));
        Assert.That(limiter.IdleDuration, Is.EqualTo(TimeSpan.FromMilliseconds(500)));

        limiter.AttemptAcquire(2);
        _ = limiter.AcquireAsync(1);
        _time.Advance(Second); // FakeTimeProvider fires a timer at the end of an Advance: step to the due time.
        Assert.That(limiter.IdleDuration, Is.Null, "the waiter was just granted");
        _time.Advance(TimeSpan.FromSeconds(4));
        Assert.That(limiter.IdleDuration, Is.EqualTo(TimeSpan.FromSeconds(3)), "the waiter was granted at +1 s and left the window at +2 s");
    }

    [Test]
    public async Task Raising_the_limit_at_run_time_serves_queued_waiters_at_once()
    {
        using var limiter = Limiter(_time, 1, Second, queueLimit: 10);
        limiter.AttemptAcquire();
        ValueTask<RateLimitLease> a = limiter.AcquireAsync(1);
        ValueTask<RateLimitLease> b = limiter.AcquireAsync(1);
        limiter.SetWindows(new SlidingLogWindow(2, Second));
        Assert.That(a.IsCompleted, Is.True);
        Assert.That(b.IsCompleted, Is.False);
        Assert.That(limiter.Windows, Is.EqualTo(new[] { new SlidingLogWindow(2, Second) }));
        _time.Advance(Second);
        Assert.That((await b.AsTask().WaitAsync(Bound)).IsAcquired, Is.True);
    }

    [Test]
    public async Task Lowering_the_limit_fails_waiters_that_could_never_be_granted_and_reschedules_the_rest()
    {
        using var limiter = Limiter(_time, 4, TimeSpan.FromSeconds(10), queueLimit: 10);
        limiter.AttemptAcquire(4);
        ValueTask<RateLimitLease> tooBig = limiter.AcquireAsync(3);
        ValueTask<RateLimitLease> small = limiter.AcquireAsync(1);
        _time.Advance(TimeSpan.FromSeconds(1));

        limiter.SetWindows(new SlidingLogWindow(2, TimeSpan.FromSeconds(2)));
        RateLimitLease failed = await tooBig.AsTask().WaitAsync(Bound);
        Assert.That(failed.IsAcquired, Is.False);
        Assert.That(Reason(failed), Does.Contain("lowered"));
        Assert.That(small.IsCompleted, Is.False, "4 grants are in the new 2 s window");

        _time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.That(small.IsCompleted, Is.False);
        _time.Advance(Ms);
        Assert.That((await small.AsTask().WaitAsync(Bound)).IsAcquired, Is.True, "the t=0 grants left the 2 s window at t=2s");
        Assert.Throws<ArgumentException>(() => limiter.SetWindows());
        Assert.Throws<ArgumentNullException>(() => limiter.SetWindows(null!));
    }

    [Test]
    public void Grants_at_one_timestamp_share_a_log_entry()
    {
        using var limiter = Limiter(_time, 1000, Second);
        for (int i = 0; i < 1000; i++)
        {
            Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
        }

        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.False);
        Assert.That(limiter.LogCapacity, Is.EqualTo(16), "1000 grants at one instant are one entry");
    }

    [Test]
    public void Memory_follows_the_permit_limit_not_the_number_of_grants()
    {
        using var limiter = Limiter(_time, 100, Second);
        for (int round = 0; round < 100; round++)
        {
            for (int i = 0; i < 100; i++)
            {
                Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
                _time.Advance(TimeSpan.FromMilliseconds(10));
            }
        }

        Assert.That(limiter.GetStatistics()!.TotalSuccessfulLeases, Is.EqualTo(10_000));
        Assert.That(limiter.LogCapacity, Is.EqualTo(128), "at most 100 grants are ever inside the window");
    }

    [Test]
    public async Task Real_time_wakes_a_waiter_without_polling()
    {
        // Real clock on purpose: proves the timer path works with TimeProvider.System (about 50 ms).
        using var limiter = new SlidingLogRateLimiter(1, TimeSpan.FromMilliseconds(50), 1);
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
        RateLimitLease lease = await limiter.AcquireAsync().AsTask().WaitAsync(Bound);
        TimeSpan waited = System.Diagnostics.Stopwatch.GetElapsedTime(start);
        Assert.That(lease.IsAcquired, Is.True);
        Assert.That(waited, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(49)), "never before the permit frees");
    }
}
