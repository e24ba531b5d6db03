using System.Threading.RateLimiting;
using AsyncUtils.Docs.Snippets;
using AsyncUtils;

namespace ReadmeSnippets;

internal static class ReadmeRateLimiter
{
    public static async Task RunAsync()
    {
        await Root();
        string output = await Capture.ConsoleAsync(Package);
        Capture.Printed(output, "try again in ");
        await Partitioned();
    }

    private static async Task Root()
    {
        CancellationToken ct = CancellationToken.None;
        int calls = 0;
        Task CallTheApiAsync(CancellationToken token)
        {
            calls++;
            return Task.CompletedTask;
        }

        // <RootRateLimiter>
        using var limiter = new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions
        {
            Windows = { new(10, TimeSpan.FromSeconds(1)), new(100, TimeSpan.FromMinutes(1)) },
            QueueLimit = 1_000,
        });
        await using (await limiter.EnterAsync(ct))   // waits FIFO, or throws RateLimitRejectedException with RetryAfter
        {
            await CallTheApiAsync(ct);
        }
        // </RootRateLimiter>

        Check.That(calls == 1, "the call ran inside the limit");
    }

    private static async Task Package()
    {
        CancellationToken ct = CancellationToken.None;
        Task CallTheApiAsync(CancellationToken token) => Task.CompletedTask;

        // The example's AttemptAcquire is refused once the first window is full: fill it first.
        // <ReadmeRateLimiter>
        using var limiter = new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions
        {
            Windows = { new(10, TimeSpan.FromSeconds(1)), new(100, TimeSpan.FromMinutes(1)) },
            QueueLimit = 1_000,                       // permits that may wait; 0 = nobody waits
        });

        // The Python library async-utils' `async with ratelimiter:` in one line: waits for a slot (FIFO), or throws
        // RateLimitRejectedException (with RetryAfter) when the queue is full.
        await using (await limiter.EnterAsync(ct))
        {
            await CallTheApiAsync(ct);
        }

        // Or the BCL contract directly: every lease, granted or not, says when the next permit frees.
        using RateLimitLease lease = limiter.AttemptAcquire();
        if (!lease.IsAcquired && lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan retryAfter))
        {
            Console.WriteLine($"try again in {retryAfter}");   // exact, not a guess
        }

        limiter.SetWindows(new SlidingLogWindow(20, TimeSpan.FromSeconds(1)));   // change limits at run time
        // </ReadmeRateLimiter>

        Check.That(lease.IsAcquired, "with 9 of 10 permits left, the attempt is granted");
        // Use up the new window of 20 (the log already holds this second's 2), then one more is refused.
        using RateLimitLease many = limiter.AttemptAcquire(18);
        using RateLimitLease refused = limiter.AttemptAcquire();
        Check.That(many.IsAcquired, "the window of 20 grants 18 more after the first 2");
        bool told = refused.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan wait);
        Check.That(!refused.IsAcquired && told && wait > TimeSpan.Zero, "a refused lease says when the next permit frees");
        Console.WriteLine($"try again in {wait}");
    }

    private static async Task Partitioned()
    {
        // <ReadmeRateLimiterPartitioned>
        // Several limits on one key: one limiter with several windows (one all-or-nothing decision).
        PartitionedRateLimiter<string> perUser = PartitionedRateLimiter.Create<string, string>(user =>
            RateLimitPartition.Get(user, _ => new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions
            {
                Windows = { new(10, TimeSpan.FromSeconds(1)), new(1_000, TimeSpan.FromHours(1)) },
            })));

        // With another kind of limiter: chain the partitioned limiters, not the partitions, so each
        // partition is retired by its own limiter's IdleDuration.
        PartitionedRateLimiter<string> combined = PartitionedRateLimiter.CreateChained(
            perUser,
            PartitionedRateLimiter.Create<string, string>(user =>
                RateLimitPartition.GetConcurrencyLimiter(user, _ => new ConcurrencyLimiterOptions { PermitLimit = 4 })));
        // </ReadmeRateLimiterPartitioned>

        using (RateLimitLease lease = await combined.AcquireAsync("alice"))
        {
            Check.That(lease.IsAcquired, "the chained limiter grants alice's first permit");
        }

        combined.Dispose();
        perUser.Dispose();
    }
}
