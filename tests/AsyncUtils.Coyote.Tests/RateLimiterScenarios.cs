using System.Threading.RateLimiting;
using AsyncUtils;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Coyote.Tests;

/// <summary>The sliding-log limiter's queue: a queued request cancelled while the window frees a permit.</summary>
public sealed class RateLimiterScenarios
{
    private static readonly TimeSpan Ten = TimeSpan.FromSeconds(10);

    [Test]
    public void Queued_request_cancelled_as_the_window_frees_a_permit_neither_over_grants_nor_loses_it()
    {
        CoyoteRunner.AssertNoBug(Budget.RateLimiter, async () =>
        {
            var time = new FakeTimeProvider();
            var options = new SlidingLogRateLimiterOptions { QueueLimit = 2, TimeProvider = time };
            options.Windows.Add(new SlidingLogWindow(1, Ten));
            using var limiter = new SlidingLogRateLimiter(options);
            using var cancel = new CancellationTokenSource();

            Check.That(await Acquire(limiter, CancellationToken.None) is true, "the first request is granted at once");
            Task<bool?> first = Acquire(limiter, cancel.Token);
            Task<bool?> second = Acquire(limiter, CancellationToken.None);

            // t = 10 s: one permit comes free while the first queued request is cancelled.
            await Task.WhenAll(Task.Run(() => time.Advance(Ten)), Task.Run(cancel.Cancel));
            using (RateLimitLease probe = limiter.AttemptAcquire(1))
            {
                Check.That(!probe.IsAcquired, "at 10 s the window's one permit belongs to the queue: a caller jumped it (over-grant)");
            }

            time.Advance(Ten); // t = 20 s
            time.Advance(Ten); // t = 30 s
            bool? firstGranted = await first;
            Check.That(firstGranted is null or true, "the first queued request is granted or cancelled, never refused");
            Check.That(await second is true, "the second queued request is granted"); // a lost permit strands it: Coyote reports the deadlock
            Check.Equal(0L, limiter.GetStatistics()!.CurrentQueuedCount, "queued count at the end");
        });
    }

    private static async Task<bool?> Acquire(SlidingLogRateLimiter limiter, CancellationToken token)
    {
        try
        {
            using RateLimitLease lease = await limiter.AcquireAsync(1, token).ConfigureAwait(false);
            return lease.IsAcquired;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }
}
