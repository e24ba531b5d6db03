using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;
using AsyncUtils;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Samples.Tour;

internal static class RateLimiterTour
{
    [ModuleInitializer]
    internal static void Register() => TourSections.Add(40, "AsyncUtils.RateLimiter", RunAsync);

    public static async Task RunAsync()
    {
        // A fake clock stands in for time passing, so the tour does not have to wait.
        var clock = new FakeTimeProvider();
        DateTimeOffset start = clock.GetUtcNow();
        string Now() => $"t={(clock.GetUtcNow() - start).TotalSeconds:0.000}s";

        using var limiter = new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions
        {
            Windows = { new SlidingLogWindow(3, TimeSpan.FromSeconds(1)), new SlidingLogWindow(5, TimeSpan.FromSeconds(10)) },
            QueueLimit = 10,
            TimeProvider = clock,
        });
        Console.WriteLine("A SlidingLogRateLimiter allowing 3 per second AND 5 per 10 seconds, with room for 10 waiters.");

        for (int i = 1; i <= 4; i++)
        {
            RateLimitLease lease = limiter.AttemptAcquire();
            Console.WriteLine($"  {Now()} AttemptAcquire #{i}: {(lease.IsAcquired ? "granted" : "refused")}, retry-after {RetryAfter(lease)}");
        }

        Console.WriteLine("The 4th was refused: the 1-second window is full, and the lease says exactly when it frees.");
        clock.Advance(TimeSpan.FromSeconds(1));
        Console.WriteLine($"  {Now()} AttemptAcquire(2): {(limiter.AttemptAcquire(2).IsAcquired ? "granted" : "refused")} (the first three left the 1-second window)");
        RateLimitLease refused = limiter.AttemptAcquire();
        Console.WriteLine($"  {Now()} AttemptAcquire: {(refused.IsAcquired ? "granted" : "refused")}: the 10-second window is full until t=10s (retry-after {RetryAfter(refused)})");

        Console.WriteLine();
        Console.WriteLine("Waiters queue in order and are woken by a timer exactly when a permit frees, never by polling:");
        Task waiter = Task.Run(async () =>
        {
            await using (await limiter.EnterAsync())
            {
                Console.WriteLine($"  {Now()} the waiter got its permit (await using around the block, as async with in the Python library async-utils).");
            }
        });
        while (limiter.GetStatistics()!.CurrentQueuedCount == 0)
        {
            await Task.Yield();
        }

        clock.Advance(TimeSpan.FromSeconds(9) - TimeSpan.FromMilliseconds(1));
        Console.WriteLine($"  {Now()} still waiting ({limiter.GetStatistics()!.CurrentQueuedCount} queued)");
        clock.Advance(TimeSpan.FromMilliseconds(1));
        await waiter;

        Console.WriteLine();
        Console.WriteLine("Limits can change at run time: SetWindows(10 per second).");
        limiter.SetWindows(new SlidingLogWindow(10, TimeSpan.FromSeconds(1)));
        Console.WriteLine($"  {Now()} permits available now: {limiter.GetStatistics()!.CurrentAvailablePermits}");
    }

    private static string RetryAfter(RateLimitLease lease) =>
        lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan retryAfter) ? $"{retryAfter.TotalSeconds:0.###}s" : "none";
}
