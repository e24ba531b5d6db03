using AsyncUtils;

namespace AsyncUtils.Docs.Snippets;

internal static class CoroutineCacheSnippets
{
    public static async Task RunAsync()
    {
        int calls = 0;

        // <CoroutineCacheBasic>
        var rates = new CoroutineCache<string, decimal>(new CoroutineCacheOptions<string, decimal>
        {
            TimeToLive = TimeSpan.FromSeconds(30),
        });

        async ValueTask<decimal> FetchRateAsync(string currency, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref calls);
            await Task.Delay(10, cancellationToken); // stands for an HTTP call
            return currency == "EUR" ? 1.08m : 1m;
        }

        using var impatient = new CancellationTokenSource();
        ValueTask<decimal> first = rates.GetOrAddAsync("EUR", (c, ct) => FetchRateAsync(c, ct), impatient.Token);
        ValueTask<decimal> second = rates.GetOrAddAsync("EUR", (c, ct) => FetchRateAsync(c, ct), CancellationToken.None);

        impatient.Cancel(); // the first caller gives up waiting; the shared call goes on for the second
        decimal rate = await second;
        Console.WriteLine($"EUR {rate}, fetched {calls} time(s)"); // EUR 1.08, fetched 1 time(s)
        // </CoroutineCacheBasic>

        bool firstCancelled = false;
        try
        {
            await first;
        }
        catch (OperationCanceledException)
        {
            firstCancelled = true;
        }

        Check.That(rate == 1.08m && calls == 1 && firstCancelled, "one caller's cancellation leaves the shared call to the others");
    }
}
