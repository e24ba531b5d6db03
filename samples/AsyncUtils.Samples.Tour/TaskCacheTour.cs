using System.Runtime.CompilerServices;
using AsyncUtils;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Samples.Tour;

internal static class TaskCacheTour
{
    [ModuleInitializer]
    internal static void Register() => TourSections.Add(30, "AsyncUtils.TaskCache", RunAsync);

    public static async Task RunAsync()
    {
        var prices = new TaskCache<string, decimal>(new TaskCacheOptions<string, decimal> { TrackStatistics = true });
        var quote = new TaskCompletionSource<decimal>(TaskCreationOptions.RunContinuationsAsynchronously);

        Console.WriteLine("A TaskCache hands every caller of a key the same Task, started by the first one.");
        Task<decimal> forCart = prices.GetOrAddAsync("SKU-1", (_, _) => quote.Task);
        Task<decimal> forBanner = prices.GetOrAddAsync("SKU-1", (_, _) => quote.Task);
        Console.WriteLine($"  Two consumers asked for SKU-1; same task object? {ReferenceEquals(forCart, forBanner)}. It can be stored and awaited later.");
        quote.SetResult(9.99m);
        Console.WriteLine($"  The price arrived: {await forBanner}. Counters: {prices.GetStatistics()}");

        int attempts = 0;
        Task<decimal> Flaky(string sku) => prices.GetOrAddAsync(sku, (_, _) =>
            ++attempts == 1 ? throw new InvalidOperationException("price service down") : Task.FromResult(4.50m));
        Console.WriteLine();
        Console.WriteLine("Failures are not cached: a function that throws (even before returning a task) fails that call only.");
        try
        {
            await Flaky("SKU-2");
        }
        catch (InvalidOperationException ex)
        {
            Console.WriteLine($"  First call failed: {ex.Message}.");
        }

        Console.WriteLine($"  The next caller starts a fresh call and gets {await Flaky("SKU-2")} (attempts: {attempts}).");

        // A fake clock drives the timeout, so the tour does not have to wait.
        var clock = new FakeTimeProvider();
        var slow = new TaskCache<string, decimal>(new TaskCacheOptions<string, decimal> { Timeout = TimeSpan.FromSeconds(2), TimeProvider = clock });
        CancellationToken callToken = default;
        Task<decimal> hung = slow.GetOrAddAsync("SKU-3", (_, ct) =>
        {
            callToken = ct;
            return new TaskCompletionSource<decimal>().Task; // never answers
        });
        clock.Advance(TimeSpan.FromSeconds(2));
        Console.WriteLine();
        Console.WriteLine("With a 2-second Timeout, a call that hangs is abandoned for real:");
        try
        {
            await hung;
        }
        catch (TimeoutException)
        {
            Console.WriteLine($"  its callers got a TimeoutException, its token was cancelled ({callToken.IsCancellationRequested}),");
        }

        Console.WriteLine($"  and the key is free at once: the next caller gets {await slow.GetOrAddAsync("SKU-3", static (_, _) => Task.FromResult(1.25m))}.");

        // The decorator of the Python library async-utils: a cached function of two arguments, keyed by both, in order.
        var rates = new TaskCache<(string From, string To), decimal>();
        Func<string, string, Task<decimal>> rate = rates.Wrap(static (string from, string to, CancellationToken _) =>
            Task.FromResult(from == to ? 1m : 1.08m));
        Console.WriteLine();
        Console.WriteLine($"Wrap keys a two-argument function by (from, to): EUR->USD {await rate("EUR", "USD")}, again from the cache {await rate("EUR", "USD")}.");
    }
}
