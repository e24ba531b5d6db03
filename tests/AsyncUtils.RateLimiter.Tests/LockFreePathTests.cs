using System.Diagnostics;
using System.Threading.RateLimiting;
using static AsyncUtils.Tests.TestClock;

namespace AsyncUtils.Tests;

/// <summary>
/// The lock-free grant path on the system clock (64-bit Linux): one coarse clock read and one
/// compare-exchange per grant, folded into the log at the end of the coarse tick. These tests use
/// the real clock and assert no timing, only what must hold whatever the scheduling.
/// </summary>
public sealed class LockFreePathTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);

    [SetUp]
    public void OnlyWhereTheCoarseClockIsUsed() =>
        Assume.That(CoarseClock.IsAvailable, "the lock-free path runs on the coarse clock of 64-bit Linux only");

    [Test]
    public void A_lock_free_grant_is_stamped_no_earlier_than_the_precise_time_before_its_call()
    {
        // A grant stamped before it happened would free its permit early. Each call's grant
        // happens after the precise time read just before the call, so its stamp must not be
        // earlier. The coarse clock trails the precise one by a millisecond or more, so a stamp
        // taken from the coarse reading without the end-of-tick offset fails here at once.
        using var limiter = SystemLimiter(int.MaxValue, TimeSpan.FromMilliseconds(50));
        int lockFree = 0;
        long stopAt = Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 5);
        while (Stopwatch.GetTimestamp() < stopAt)
        {
            long before = Stopwatch.GetTimestamp();
            Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
            if (limiter.FastPathForTests is { Granted: > 0 } path)
            {
                // One thread: the open path holds this call's grant.
                lockFree++;
                Assert.That(path.Stamp, Is.GreaterThanOrEqualTo(before), "stamped before the call began: the permit would free early");
            }
        }

        Assert.That(lockFree, Is.GreaterThan(1_000), "most grants must take the lock-free path, or this test checks nothing");
    }

    [Test]
    public void Lock_free_grants_count_in_the_windows_and_the_statistics()
    {
        using var limiter = SystemLimiter(1_000, Long);
        for (int i = 0; i < 600; i++)
        {
            Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
        }

        Assert.That(limiter.FastPathForTests, Is.Not.Null, "the path is open between grants");
        Assert.That(limiter.TryReadCounters(out long granted, out long rejected, out _), Is.True);
        Assert.That((granted, rejected), Is.EqualTo((600L, 0L)), "the metrics count grants the path has not folded yet");

        RateLimiterStatistics statistics = limiter.GetStatistics()!;
        Assert.That(statistics.TotalSuccessfulLeases, Is.EqualTo(600));
        Assert.That(statistics.CurrentAvailablePermits, Is.EqualTo(400));
        Assert.That(limiter.IdleDuration, Is.Null);
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(5)]
    [TestCase(64)]
    [TestCase(65)]
    [TestCase(200)]
    public void The_lock_free_path_never_takes_more_than_the_limit_and_leaves_the_last_permit_to_the_lock(int permitLimit)
    {
        using var limiter = new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions
        {
            Windows = { new SlidingLogWindow(permitLimit + 7, Long), new SlidingLogWindow(permitLimit, Long) },
        });
        for (int i = 1; i <= permitLimit; i++)
        {
            RateLimitLease lease = limiter.AttemptAcquire();
            Assert.That(lease.IsAcquired, Is.True, $"grant {i}");
            TimeSpan? retryAfter = RetryAfter(lease);
            if (i < permitLimit)
            {
                Assert.That(retryAfter, Is.EqualTo(TimeSpan.Zero), $"grant {i} leaves a permit");
            }
            else
            {
                Assert.That(retryAfter, Is.GreaterThan(TimeSpan.FromSeconds(29)), "the last permit's lease says when the next frees");
            }
        }

        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.False);
        Assert.That(limiter.AcquireAsync().AsTask().Result.IsAcquired, Is.False);
        Assert.That(limiter.GetStatistics()!.TotalSuccessfulLeases, Is.EqualTo(permitLimit));
    }

    [Test]
    public void A_queued_request_shuts_the_lock_free_path_so_nobody_passes_it()
    {
        using var limiter = new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions
        {
            Windows = { new SlidingLogWindow(10, Long) },
            QueueLimit = 10,
        });
        for (int i = 0; i < 5; i++)
        {
            Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
        }

        Assert.That(limiter.FastPathForTests, Is.Not.Null);
        ValueTask<RateLimitLease> queued = limiter.AcquireAsync(6);
        Assert.That(queued.IsCompleted, Is.False, "6 more do not fit in 10 with 5 taken");

        Assert.That(limiter.FastPathForTests, Is.Null);
        RateLimitLease newcomer = limiter.AttemptAcquire();
        Assert.That(newcomer.IsAcquired, Is.False, "a newcomer must not pass the queued request");
        Assert.That(Reason(newcomer), Is.EqualTo(SlidingLogLease.QueuedAheadReason));
        Assert.That(limiter.AcquireAsync().IsCompleted, Is.False, "a newcomer that waits queues behind it");
    }

    [Test]
    public void Lowering_the_limits_shuts_the_lock_free_path()
    {
        using var limiter = SystemLimiter(100, Long);
        for (int i = 0; i < 5; i++)
        {
            Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
        }

        limiter.SetWindows(new SlidingLogWindow(5, Long));

        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.False, "the five lock-free grants count against the new window");
        Assert.That(limiter.AcquireAsync().AsTask().Result.IsAcquired, Is.False);
    }

    [Test]
    public void A_disposed_limiter_throws_instead_of_granting_lock_free()
    {
        var limiter = SystemLimiter(100, Long);
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
        Assert.That(limiter.FastPathForTests, Is.Not.Null);

        limiter.Dispose();

        Assert.That(() => limiter.AttemptAcquire(), Throws.TypeOf<ObjectDisposedException>());
        Assert.That(() => limiter.AcquireAsync(), Throws.TypeOf<ObjectDisposedException>());
    }

    [TestCase(100, 5, 2)]
    [TestCase(300, 20, 2)]
    [TestCase(70, 3, 4)]
    [TestCase(2, 1, 4)]
    public void Threads_granting_lock_free_never_put_more_than_the_limit_in_any_window(int permitLimit, int periodMs, int threads)
    {
        // Every grant lies between the precise times read just before and just after its call;
        // grants whose whole calls fit inside one window of length Period certainly share it.
        TimeSpan period = TimeSpan.FromMilliseconds(periodMs);
        using var limiter = SystemLimiter(permitLimit, period);
        var grants = new List<(long Before, long After)>[threads];
        var workers = new Thread[threads];
        using var start = new Barrier(threads);
        long stopAt = 0;
        for (int t = 0; t < threads; t++)
        {
            var mine = grants[t] = new List<(long, long)>(1 << 16);
            bool attempt = t % 2 == 0;
            workers[t] = new Thread(() =>
            {
                start.SignalAndWait(Bound);
                Interlocked.CompareExchange(ref stopAt, Stopwatch.GetTimestamp() + (Stopwatch.Frequency * 3 / 10), 0);
                long end = Volatile.Read(ref stopAt);
                for (int i = 0; i < 200_000 && Stopwatch.GetTimestamp() < end; i++)
                {
                    long before = Stopwatch.GetTimestamp();
                    bool acquired = attempt ? limiter.AttemptAcquire().IsAcquired : limiter.AcquireAsync().Result.IsAcquired;
                    long after = Stopwatch.GetTimestamp();
                    if (acquired)
                    {
                        mine.Add((before, after));
                    }
                }
            });
        }

        Array.ForEach(workers, w => w.Start());
        Array.ForEach(workers, w => Assert.That(w.Join(Bound), Is.True));

        List<(long Before, long After)> all = [.. grants.SelectMany(g => g).OrderBy(g => g.Before)];
        Assert.That(all, Has.Count.GreaterThan(2 * permitLimit), "the run must refill the window more than once");
        long periodUnits = (long)(period.TotalSeconds * Stopwatch.Frequency);
        for (int i = 0; i < all.Count; i++)
        {
            long windowEnd = all[i].Before + periodUnits;
            int inside = 0;
            for (int j = i; j < all.Count && all[j].Before < windowEnd; j++)
            {
                if (all[j].After < windowEnd)
                {
                    inside++;
                }
            }

            Assert.That(inside, Is.LessThanOrEqualTo(permitLimit), $"grants {i}.. fit in one window of {periodMs} ms");
        }

        RateLimiterStatistics statistics = limiter.GetStatistics()!;
        Assert.That(statistics.TotalSuccessfulLeases, Is.EqualTo(all.Count), "every grant is counted once");
    }

    private static SlidingLogRateLimiter SystemLimiter(int permitLimit, TimeSpan period) =>
        new(new SlidingLogRateLimiterOptions { Windows = { new SlidingLogWindow(permitLimit, period) } });
}
