using AsyncUtils;
using AsyncUtils.Docs.Snippets;

namespace ReadmeSnippets;

internal static class ReadmeCoroutineCache
{
    public static async Task RunAsync()
    {
        await Root();
        await Package();
    }

    private static async Task Root()
    {
        var api = new PriceApi();
        string sku = "sku-1";
        CancellationToken ct = CancellationToken.None;

        // <RootCoroutineCache>
        var prices = new CoroutineCache<string, decimal>(new CoroutineCacheOptions<string, decimal>
        {
            TimeToLive = TimeSpan.FromSeconds(30),     // counted from when the call completed
            MaxSize = 50_000,                          // least recently used entries are evicted
            CancelWhenAllWaitersCancel = true,         // nobody waiting any more: cancel the call
        });
        decimal price = await prices.GetOrAddAsync(sku, static (s, api, token) => api.GetPriceAsync(s, token), api, ct);
        // </RootCoroutineCache>

        Check.That(price == 5m, "the price comes from the API");
    }

    private static async Task Package()
    {
        var api = new PriceApi();
        string sku = "sku-1";
        CancellationToken ct = CancellationToken.None;

        // <ReadmeCoroutineCache>
        var prices = new CoroutineCache<string, decimal>(new CoroutineCacheOptions<string, decimal>
        {
            TimeToLive = TimeSpan.FromSeconds(30),     // counted from when the call completed
            MaxSize = 50_000,                          // least recently used entries are evicted
            CancelWhenAllWaitersCancel = true,         // nobody waiting any more: cancel the call
        });

        // `ct` is this caller's token; the function gets the shared call's own token.
        decimal price = await prices.GetOrAddAsync(sku, static (s, api, token) => api.GetPriceAsync(s, token), api, ct);

        // A Task-returning function is adapted for free:
        decimal p = await prices.GetOrAddAsync(sku, (s, token) => new ValueTask<decimal>(LoadAsync(s, token)), ct);

        // The Python library async-utils' @corocache: a cached function with the same signature, keyed by its arguments.
        var cache = new CoroutineCache<(string, int), Forecast>();
        Func<string, int, CancellationToken, ValueTask<Forecast>> forecast = cache.Wrap(
            static (string city, int days, CancellationToken token) => FetchForecastAsync(city, days, token));
        Forecast f = await forecast("Oslo", 3, ct);
        // </ReadmeCoroutineCache>

        Check.That(price == 5m && p == 5m && api.Calls == 1, "the second lookup of the same key is served from the cache");
        Check.That(f == new Forecast("Oslo", 3), "the wrapped function passes its arguments");
    }

    private static Task<decimal> LoadAsync(string sku, CancellationToken token) => Task.FromResult(-1m);

    private static ValueTask<Forecast> FetchForecastAsync(string city, int days, CancellationToken token) =>
        new(new Forecast(city, days));

    private sealed record Forecast(string City, int Days);

    private sealed class PriceApi
    {
        private int _calls;

        public int Calls => _calls;

        public async ValueTask<decimal> GetPriceAsync(string sku, CancellationToken token)
        {
            Interlocked.Increment(ref _calls);
            await Task.Yield();
            return 5m;
        }
    }
}
