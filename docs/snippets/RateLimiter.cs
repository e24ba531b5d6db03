using AsyncUtils;

namespace AsyncUtils.Docs.Snippets;

internal static class RateLimiterSnippets
{
    public static async Task RunAsync()
    {
        int entered = 0;

        // <RateLimiterBasic>
        // At most 5 calls in any 1-second window, with up to 100 callers queued in FIFO order.
        using var limiter = new SlidingLogRateLimiter(permitLimit: 5, period: TimeSpan.FromSeconds(1), queueLimit: 100);

        for (int i = 0; i < 3; i++)
        {
            // Waits for a permit, or throws RateLimitRejectedException when the queue is full.
            await using (await limiter.EnterAsync(CancellationToken.None))
            {
                entered++; // call the rate-limited resource here
            }
        }
        // </RateLimiterBasic>

        Check.That(entered == 3, "three permits are granted at once under a limit of five");

        // <RateLimiterWindows>
        // Several windows at once, all or nothing: 10 per second and 100 per minute.
        var options = new SlidingLogRateLimiterOptions { QueueLimit = 1_000 };
        options.Windows.Add(new SlidingLogWindow(permitLimit: 10, period: TimeSpan.FromSeconds(1)));
        options.Windows.Add(new SlidingLogWindow(permitLimit: 100, period: TimeSpan.FromMinutes(1)));
        using var apiLimiter = new SlidingLogRateLimiter(options);

        // It is a System.Threading.RateLimiting.RateLimiter, so the BCL API works unchanged.
        using System.Threading.RateLimiting.RateLimitLease lease = apiLimiter.AttemptAcquire();
        Console.WriteLine($"granted: {lease.IsAcquired}");
        // </RateLimiterWindows>

        Check.That(lease.IsAcquired && apiLimiter.Windows.Count == 2, "a limiter with two windows grants its first permit");
    }
}
