using System.Runtime.CompilerServices;
using AsyncUtils;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Samples.Tour;

internal static class LockoutTour
{
    [ModuleInitializer]
    internal static void Register() => TourSections.Add(50, "AsyncUtils.Lockout", RunAsync);

    public static async Task RunAsync()
    {
        // A fake clock stands in for time passing, so the tour does not have to wait.
        var clock = new FakeTimeProvider();
        DateTimeOffset start = clock.GetUtcNow();
        string Now() => $"t={(clock.GetUtcNow() - start).TotalSeconds:0}s";
        var lockout = new Lockout(new LockoutOptions { Fifo = true, TimeProvider = clock });

        Console.WriteLine("A FIFO Lockout guarding a pretend API. The first call gets \"429, Retry-After: 30\".");
        bool rateLimited = true;
        var log = new List<string>();

        async Task CallAsync(string caller)
        {
            while (true)
            {
                await lockout.EnterAsync().ConfigureAwait(false);
                if (rateLimited)
                {
                    rateLimited = false;
                    TimeSpan applied = lockout.LockForRetryAfter("30", maxDuration: TimeSpan.FromMinutes(5));
                    log.Add($"  {Now()} {caller}: 429 -> everyone locked out for {applied.TotalSeconds:0}s");
                    continue;
                }

                log.Add($"  {Now()} {caller}: 200 OK");
                return;
            }
        }

        Task[] callers = [CallAsync("alice"), CallAsync("bob"), CallAsync("carol")];
        Console.WriteLine($"  {Now()} locked: {lockout.IsLocked}, until +{(lockout.LockedUntil - start)?.TotalSeconds:0}s, waiting: {lockout.WaitingCount}");
        try
        {
            lockout.EnterOrThrow();
        }
        catch (LockoutActiveException ex)
        {
            Console.WriteLine($"  {Now()} a fail-fast caller is told to retry after {ex.RetryAfter.TotalSeconds:0}s");
        }

        clock.Advance(TimeSpan.FromSeconds(30));
        await Task.WhenAll(callers);
        log.ForEach(Console.WriteLine);
        Console.WriteLine("Nobody hammered the API during the lockout, and the waiters went in in the order they arrived.");
    }
}
