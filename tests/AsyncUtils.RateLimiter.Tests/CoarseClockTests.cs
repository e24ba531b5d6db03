using System.Diagnostics;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;
using static AsyncUtils.Tests.TestClock;

namespace AsyncUtils.Tests;

/// <summary>
/// The system clock's fast path: grants stamped from the coarse clock at the end of its tick.
/// The invariant tests use the real clock on purpose and assert no timing, only the invariant on
/// the recorded grants: each grant is known to lie between the precise times read just before and
/// just after its call, and no N + 1 grants may fit in any window of length Period.
/// </summary>
public sealed class CoarseClockTests
{
    [Test]
    public void On_64_bit_Linux_the_system_clock_stamps_grants_from_the_coarse_clock()
    {
        Assume.That(OperatingSystem.IsLinux() && Environment.Is64BitProcess, "the coarse clock is used on 64-bit Linux only");
        using var limiter = SystemLimiter(10, TimeSpan.FromSeconds(1));

        Assert.That(limiter.UsesCoarseClock, Is.True);
        Assert.That(CoarseClock.StampOffset, Is.InRange(TimeSpan.FromMilliseconds(1).Ticks * 100 + 1, TimeSpan.FromMilliseconds(21).Ticks * 100), "one millisecond plus two ticks of at most 10 ms, in nanoseconds");
    }

    [Test]
    public void A_fake_clock_never_uses_the_coarse_clock()
    {
        using var limiter = Limiter(new FakeTimeProvider(), 10, TimeSpan.FromSeconds(1));

        Assert.That(limiter.UsesCoarseClock, Is.False);
    }

    [TestCase(3, 15, 1)]
    [TestCase(3, 15, 2)]
    [TestCase(40, 10, 1)]
    [TestCase(40, 10, 2)]
    [TestCase(1, 2, 2)]
    public void On_the_system_clock_no_window_ever_holds_more_than_the_limit(int permitLimit, int periodMs, int threads)
    {
        TimeSpan period = TimeSpan.FromMilliseconds(periodMs);
        using var limiter = SystemLimiter(permitLimit, period);
        var grants = new List<(long Before, long After)>[threads];
        var workers = new Thread[threads];
        long stopAt = Stopwatch.GetTimestamp() + (Stopwatch.Frequency * 3 / 10);
        for (int t = 0; t < threads; t++)
        {
            var mine = grants[t] = [];
            workers[t] = new Thread(() =>
            {
                while (Stopwatch.GetTimestamp() < stopAt)
                {
                    long before = Stopwatch.GetTimestamp();
                    bool acquired = limiter.AttemptAcquire().IsAcquired;
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
        Assert.That(all, Has.Count.GreaterThan(permitLimit), "the run must refill the window at least once");
        long periodUnits = (long)(period.TotalSeconds * Stopwatch.Frequency);
        for (int i = 0; i < all.Count; i++)
        {
            // Grants whose whole call lies inside [Before_i, Before_i + Period) certainly share a window.
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
    }

    [Test]
    public void A_grant_on_the_system_clock_allocates_nothing()
    {
        using var limiter = SystemLimiter(int.MaxValue, TimeSpan.FromMilliseconds(5));
        for (int i = 0; i < 2_000; i++)
        {
            limiter.AttemptAcquire();
            _ = limiter.AcquireAsync().Result;
        }

        int granted = 0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1_000; i++)
        {
            granted += limiter.AttemptAcquire().IsAcquired ? 1 : 0;
            granted += limiter.AcquireAsync().Result.IsAcquired ? 1 : 0;
        }

        Assert.That(GC.GetAllocatedBytesForCurrentThread() - before, Is.Zero);
        Assert.That(granted, Is.EqualTo(2_000));
    }

    [Test]
    public void On_the_system_clock_a_refused_request_is_decided_on_the_precise_clock()
    {
        // The last permit's lease says when the next one frees; the coarse stamp may make that up
        // to a tick late, never early, and a retry then is granted.
        using var limiter = SystemLimiter(2, TimeSpan.FromMilliseconds(20));
        long start = Stopwatch.GetTimestamp();
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
        RateLimitLease last = limiter.AttemptAcquire();
        Assert.That(last.IsAcquired, Is.True);
        RateLimitLease refused = limiter.AttemptAcquire();
        if (Stopwatch.GetElapsedTime(start) < TimeSpan.FromMilliseconds(10))
        {
            Assert.That(refused.IsAcquired, Is.False);
            TimeSpan retryAfter = RetryAfter(refused)!.Value;
            Assert.That(retryAfter, Is.GreaterThan(TimeSpan.FromMilliseconds(10)).And.LessThanOrEqualTo(TimeSpan.FromMilliseconds(20) + TimeSpan.FromTicks(CoarseClock.StampOffset / 100)));
            Thread.Sleep(retryAfter);
            Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True, "granted once the retry-after has passed");
        }
    }

    private static SlidingLogRateLimiter SystemLimiter(int permitLimit, TimeSpan period) =>
        new(new SlidingLogRateLimiterOptions { Windows = { new SlidingLogWindow(permitLimit, period) } });
}
