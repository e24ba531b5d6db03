using System.Net.Http.Headers;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

// Each test gets its own fake clock.
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public sealed class LockoutTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    private readonly FakeTimeProvider _time = new();

    private Lockout Create(bool fifo = false) => new(new LockoutOptions { Fifo = fifo, TimeProvider = _time });

    [Test]
    public void An_unlocked_lockout_is_entered_synchronously_without_allocating()
    {
        var lockout = Create();
        Assert.That(lockout.EnterAsync().IsCompletedSuccessfully, Is.True);
        for (int i = 0; i < 100; i++)
        {
            lockout.EnterAsync().GetAwaiter().GetResult();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            lockout.EnterAsync(CancellationToken.None).GetAwaiter().GetResult();
        }

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
        Assert.That(lockout.IsLocked, Is.False);
        Assert.That(lockout.LockedUntil, Is.Null);
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Entering_waits_exactly_until_the_lockout_ends(bool fifo)
    {
        var lockout = Create(fifo);
        DateTimeOffset start = _time.GetUtcNow();
        lockout.LockFor(TimeSpan.FromSeconds(3));
        Assert.Multiple(() =>
        {
            Assert.That(lockout.IsLocked, Is.True);
            Assert.That(lockout.LockedUntil, Is.EqualTo(start + TimeSpan.FromSeconds(3)));
            Assert.That(lockout.TryEnter(), Is.False);
        });

        ValueTask waiting = lockout.EnterAsync();
        Assert.That(waiting.IsCompleted, Is.False);
        Assert.That(lockout.WaitingCount, Is.EqualTo(1));
        _time.Advance(TimeSpan.FromSeconds(3) - Ms);
        Assert.That(waiting.IsCompleted, Is.False);
        _time.Advance(Ms);
        await waiting.AsTask().WaitAsync(Bound);
        Assert.Multiple(() =>
        {
            Assert.That(lockout.IsLocked, Is.False);
            Assert.That(lockout.LockedUntil, Is.Null);
            Assert.That(lockout.WaitingCount, Is.Zero);
            Assert.That(lockout.EnterAsync().IsCompletedSuccessfully, Is.True);
        });
    }

    [Test]
    public void A_lockout_only_ever_moves_its_end_later()
    {
        var lockout = Create();
        DateTimeOffset start = _time.GetUtcNow();
        lockout.LockFor(TimeSpan.FromSeconds(10));
        lockout.LockFor(TimeSpan.FromSeconds(2));
        lockout.LockUntil(start + TimeSpan.FromSeconds(5));
        lockout.LockFor(TimeSpan.Zero);
        lockout.LockUntil(start - Second);
        Assert.That(lockout.LockedUntil, Is.EqualTo(start + TimeSpan.FromSeconds(10)));

        lockout.LockUntil(start + TimeSpan.FromSeconds(12));
        Assert.That(lockout.LockedUntil, Is.EqualTo(start + TimeSpan.FromSeconds(12)));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => lockout.LockFor(TimeSpan.FromTicks(-1)))!.ParamName, Is.EqualTo("duration"));
        Assert.Throws<ArgumentOutOfRangeException>(() => lockout.LockFor(Timeout.InfiniteTimeSpan));
        Assert.That(lockout.LockedUntil, Is.EqualTo(start + TimeSpan.FromSeconds(12)), "bad input changed nothing");
    }

    [Test]
    public void An_absurd_duration_is_capped_instead_of_overflowing()
    {
        var lockout = Create();
        lockout.LockFor(TimeSpan.MaxValue);
        Assert.That(lockout.IsLocked, Is.True);
        Assert.That(lockout.LockedUntil, Is.EqualTo(_time.GetUtcNow() + TimeSpan.FromDays(36525)), "capped at a century");
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Extending_the_lockout_while_callers_wait_holds_them_until_the_new_end(bool fifo)
    {
        var lockout = Create(fifo);
        lockout.LockFor(Second);
        ValueTask a = lockout.EnterAsync();
        ValueTask b = lockout.EnterAsync();
        _time.Advance(TimeSpan.FromMilliseconds(500));
        lockout.LockFor(TimeSpan.FromSeconds(2));
        _time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.That(a.IsCompleted || b.IsCompleted, Is.False, "the old end passed, the new one has not");
        _time.Advance(TimeSpan.FromMilliseconds(1499));
        Assert.That(a.IsCompleted || b.IsCompleted, Is.False, "1 ms before the new end");
        _time.Advance(Ms);
        await Task.WhenAll(a.AsTask(), b.AsTask()).WaitAsync(Bound);
    }

    [Test]
    public async Task Without_fifo_every_waiter_is_released_at_once_when_the_lockout_ends()
    {
        var lockout = Create();
        lockout.LockFor(Second);
        var waiters = Enumerable.Range(0, 10).Select(_ => lockout.EnterAsync()).ToList();
        _time.Advance(Second);
        Assert.That(waiters.All(w => w.IsCompleted), Is.True);
        await Task.WhenAll(waiters.Select(w => w.AsTask())).WaitAsync(Bound);
    }

    [Test]
    public async Task In_fifo_mode_waiters_enter_in_arrival_order_and_newcomers_queue_behind_them()
    {
        var lockout = Create(fifo: true);
        lockout.LockFor(Second);
        var order = new List<string>();
        Task? newcomer = null;

        // ConfigureAwait(false): without a captured context a released waiter's continuation runs
        // on the releasing thread before the next waiter is let in (see the Lockout remarks).
        async Task Enter(string name)
        {
            await lockout.EnterAsync().ConfigureAwait(false);
            order.Add(name);
            if (name == "w0")
            {
                // Arrives while w1..w9 are still being let in: it must queue behind them.
                newcomer = Enter("newcomer");
                Assert.That(newcomer.IsCompleted, Is.False);
            }
        }

        var waiters = Enumerable.Range(0, 10).Select(i => Enter($"w{i}")).ToList();
        Assert.That(lockout.WaitingCount, Is.EqualTo(10));
        _time.Advance(Second);
        await Task.WhenAll(waiters).WaitAsync(Bound);
        await newcomer!.WaitAsync(Bound);
        Assert.That(order, Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"w{i}").Append("newcomer")));
    }

    [Test]
    public async Task In_fifo_mode_a_lockout_begun_by_a_released_waiter_holds_back_those_behind_it()
    {
        var lockout = Create(fifo: true);
        lockout.LockFor(Second);
        var order = new List<int>();

        async Task Enter(int id)
        {
            await lockout.EnterAsync().ConfigureAwait(false);
            order.Add(id);
            if (id == 1)
            {
                lockout.LockFor(Second);
            }
        }

        var waiters = Enumerable.Range(0, 4).Select(Enter).ToList();
        _time.Advance(Second);
        Assert.That(order, Is.EqualTo(new[] { 0, 1 }));
        Assert.That(lockout.WaitingCount, Is.EqualTo(2));
        _time.Advance(Second);
        await Task.WhenAll(waiters).WaitAsync(Bound);
        Assert.That(order, Is.EqualTo(new[] { 0, 1, 2, 3 }));
    }

    [Test]
    public async Task In_fifo_mode_a_lone_waiter_is_released_although_nobody_is_inside()
    {
        // The Python library async-utils' FIFO lockout released a waiter only when an earlier entrant left, so the first
        // waiter after a lockout could wait forever. Here release depends on time alone.
        var lockout = Create(fifo: true);
        lockout.LockFor(Second);
        ValueTask lone = lockout.EnterAsync();
        _time.Advance(Second);
        await lone.AsTask().WaitAsync(Bound);
        Assert.That(lockout.EnterAsync().IsCompletedSuccessfully, Is.True);
    }

    [Test]
    public async Task In_fifo_mode_a_late_timer_strands_nobody()
    {
        // A clock whose timers never fire: the lockout must still end for callers arriving after it.
        var time = new TimersNeverFire();
        var lockout = new Lockout(new LockoutOptions { Fifo = true, TimeProvider = time });
        lockout.LockFor(Second);
        var order = new List<int>();
        Task first = Enter(1);
        time.Advance(Second);
        Task second = Enter(2);
        await Task.WhenAll(first, second).WaitAsync(Bound);
        Assert.That(order, Is.EqualTo(new[] { 1, 2 }), "the newcomer started the release and queued behind the first waiter");
        Assert.That(lockout.EnterAsync().IsCompletedSuccessfully, Is.True);

        async Task Enter(int id)
        {
            await lockout.EnterAsync().ConfigureAwait(false);
            lock (order)
            {
                order.Add(id);
            }
        }
    }

    [Test]
    public async Task In_fifo_mode_a_continuation_that_throws_does_not_strand_the_waiters_behind_it()
    {
        var lockout = Create(fifo: true);
        lockout.LockFor(Second);
        ValueTask first = lockout.EnterAsync();
        ValueTask second = lockout.EnterAsync();

        // A raw continuation (as a custom awaiter could register) runs on the releasing thread.
        first.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(() => throw new InvalidOperationException("boom"));
        Assert.Throws<InvalidOperationException>(() => _time.Advance(Second));
        await second.AsTask().WaitAsync(Bound);
        Assert.That(lockout.EnterAsync().IsCompletedSuccessfully, Is.True);
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Without_fifo_or_with_it_a_late_timer_does_not_hold_callers_past_the_end(bool fifo)
    {
        var time = new TimersNeverFire();
        var lockout = new Lockout(new LockoutOptions { Fifo = fifo, TimeProvider = time });
        lockout.LockFor(Second);
        ValueTask waiting = lockout.EnterAsync();
        time.Advance(Second);
        Assert.That(lockout.TryEnter(), Is.True);
        await lockout.EnterAsync();
        await waiting.AsTask().WaitAsync(Bound);
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_waiter_cancelled_while_waiting_leaves_the_queue_and_the_others_still_enter(bool fifo)
    {
        var lockout = Create(fifo);
        lockout.LockFor(Second);
        using var cts = new CancellationTokenSource();
        ValueTask first = lockout.EnterAsync();
        ValueTask cancelled = lockout.EnterAsync(cts.Token);
        ValueTask last = lockout.EnterAsync();
        cts.Cancel();
        await Assert.CatchAsync<OperationCanceledException>(async () => await cancelled);
        Assert.That(lockout.WaitingCount, Is.EqualTo(2));
        _time.Advance(Second);
        await Task.WhenAll(first.AsTask(), last.AsTask()).WaitAsync(Bound);
    }

    [Test]
    public async Task An_already_cancelled_token_does_not_wait_but_does_not_block_an_unlocked_entry()
    {
        var lockout = Create();
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.That(lockout.EnterAsync(cts.Token).IsCompletedSuccessfully, Is.True, "entering takes nothing; the token only cancels a wait");
        lockout.LockFor(Second);
        await Assert.CatchAsync<OperationCanceledException>(async () => await lockout.EnterAsync(cts.Token));
        Assert.That(lockout.WaitingCount, Is.Zero);
    }

    [Test]
    public void Fail_fast_entry_throws_a_typed_exception_carrying_when_the_lockout_ends()
    {
        var lockout = Create();
        DateTimeOffset start = _time.GetUtcNow();
        lockout.EnterOrThrow();
        lockout.LockFor(TimeSpan.FromSeconds(30));
        _time.Advance(TimeSpan.FromSeconds(10));
        var ex = Assert.Throws<LockoutActiveException>(() => lockout.EnterOrThrow());
        Assert.Multiple(() =>
        {
            Assert.That(ex!.LockedUntil, Is.EqualTo(start + TimeSpan.FromSeconds(30)));
            Assert.That(ex.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(20)));
            Assert.That(ex.Message, Does.Contain("locked out"));
        });
        _time.Advance(TimeSpan.FromSeconds(20));
        lockout.EnterOrThrow();
        Assert.That(lockout.TryEnter(), Is.True);
    }

    [Test]
    public void Retry_after_in_seconds_or_as_an_http_date_becomes_a_capped_lockout()
    {
        var lockout = Create();
        DateTimeOffset now = _time.GetUtcNow();
        Assert.That(lockout.LockForRetryAfter("120", TimeSpan.FromMinutes(5)), Is.EqualTo(TimeSpan.FromSeconds(120)));
        Assert.That(lockout.LockedUntil, Is.EqualTo(now + TimeSpan.FromSeconds(120)));

        Assert.That(lockout.LockForRetryAfter(" 1.5 ", TimeSpan.FromMinutes(5)), Is.EqualTo(TimeSpan.FromSeconds(1.5)), "fractional seconds, as in X-RateLimit-Reset-After");
        string date = (now + TimeSpan.FromSeconds(200)).ToString("r", System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(lockout.LockForRetryAfter(date, TimeSpan.FromMinutes(5)), Is.EqualTo(TimeSpan.FromSeconds(200)));
        Assert.That(lockout.LockedUntil, Is.EqualTo(now + TimeSpan.FromSeconds(200)));

        Assert.That(lockout.LockForRetryAfter("86400", TimeSpan.FromMinutes(5)), Is.EqualTo(TimeSpan.FromMinutes(5)), "an absurd value is capped");
        Assert.That(lockout.LockedUntil, Is.EqualTo(now + TimeSpan.FromMinutes(5)));

        foreach (string? bad in new[] { null, "", "soon", "-5", "1e3", "Sun, 06 Nov 1994 08:49:37 GMT" })
        {
            Assert.That(lockout.LockForRetryAfter(bad, TimeSpan.FromHours(1)), Is.EqualTo(TimeSpan.Zero), $"'{bad}'");
        }

        Assert.That(lockout.LockedUntil, Is.EqualTo(now + TimeSpan.FromMinutes(5)), "missing, malformed or past values lock nothing");
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => lockout.LockForRetryAfter("1", TimeSpan.Zero))!.ParamName, Is.EqualTo("maxDuration"));
    }

    [Test]
    public void A_parsed_retry_after_header_becomes_a_capped_lockout()
    {
        var lockout = Create();
        DateTimeOffset now = _time.GetUtcNow();
        Assert.That(lockout.LockForRetryAfter(new RetryConditionHeaderValue(TimeSpan.FromSeconds(7)), TimeSpan.FromMinutes(1)), Is.EqualTo(TimeSpan.FromSeconds(7)));
        Assert.That(lockout.LockForRetryAfter(new RetryConditionHeaderValue(now + TimeSpan.FromSeconds(40)), TimeSpan.FromMinutes(1)), Is.EqualTo(TimeSpan.FromSeconds(40)));
        Assert.That(lockout.LockForRetryAfter(new RetryConditionHeaderValue(TimeSpan.FromDays(2)), TimeSpan.FromMinutes(1)), Is.EqualTo(TimeSpan.FromMinutes(1)));
        Assert.That(lockout.LockForRetryAfter((RetryConditionHeaderValue?)null, TimeSpan.FromMinutes(1)), Is.EqualTo(TimeSpan.Zero));
        Assert.That(lockout.LockedUntil, Is.EqualTo(now + TimeSpan.FromMinutes(1)));
    }

    [Test]
    public void The_header_parser_accepts_the_three_http_date_formats()
    {
        var now = new DateTimeOffset(1994, 11, 6, 8, 49, 0, TimeSpan.Zero);
        foreach (string value in new[] { "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994" })
        {
            Assert.That(RetryAfterHeader.TryParse(value, now, out TimeSpan delay), Is.True, value);
            Assert.That(delay, Is.EqualTo(TimeSpan.FromSeconds(37)), value);
        }

        Assert.That(RetryAfterHeader.TryParse("999999999999999", now, out TimeSpan huge), Is.True);
        Assert.That(huge, Is.EqualTo(TimeSpan.MaxValue));
        Assert.That(RetryAfterHeader.TryParse("12abc", now, out _), Is.False);
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task The_seeds_429_loop_makes_every_caller_wait_out_one_retry_after(bool fifo)
    {
        // A server that answers 429 "Retry-After: 30" until t=30s, and 200 afterwards.
        var lockout = Create(fifo);
        DateTimeOffset opensAt = _time.GetUtcNow() + TimeSpan.FromSeconds(30);
        int rejected = 0;
        int served = 0;

        (int Status, string? RetryAfter) Server()
        {
            if (_time.GetUtcNow() < opensAt)
            {
                Interlocked.Increment(ref rejected);
                return (429, ((int)(opensAt - _time.GetUtcNow()).TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            Interlocked.Increment(ref served);
            return (200, null);
        }

        async Task<DateTimeOffset> CallAsync()
        {
            while (true)
            {
                await lockout.EnterAsync();
                (int status, string? retryAfter) = Server();
                if (status == 429)
                {
                    lockout.LockForRetryAfter(retryAfter, TimeSpan.FromMinutes(5));
                    continue;
                }

                return _time.GetUtcNow();
            }
        }

        var callers = Enumerable.Range(0, 5).Select(_ => CallAsync()).ToList();
        Assert.That(rejected, Is.EqualTo(1), "the first 429 locked everyone else out before they called");
        Assert.That(lockout.WaitingCount, Is.EqualTo(5));
        _time.Advance(TimeSpan.FromSeconds(30));
        DateTimeOffset[] finished = await Task.WhenAll(callers).WaitAsync(Bound);
        Assert.That(served, Is.EqualTo(5));
        Assert.That(rejected, Is.EqualTo(1));
        Assert.That(finished, Is.All.EqualTo(opensAt));
    }

    [Test]
    public async Task Real_time_releases_a_waiter_at_the_end_without_polling()
    {
        // Real clock on purpose: proves the timer path works with TimeProvider.System (about 50 ms).
        var lockout = new Lockout();
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        lockout.LockFor(TimeSpan.FromMilliseconds(50));
        await lockout.EnterAsync().AsTask().WaitAsync(Bound);
        Assert.That(System.Diagnostics.Stopwatch.GetElapsedTime(start), Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(49)));
    }

    /// <summary>A fake clock whose timers never fire, to prove nothing depends on a timer being on time.</summary>
    private sealed class TimersNeverFire : FakeTimeProvider
    {
        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) => new NeverTimer();

        private sealed class NeverTimer : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period) => true;

            public void Dispose()
            {
            }

            public ValueTask DisposeAsync() => default;
        }
    }
}
