using System.Diagnostics;
using AsyncUtils;
using AsyncUtils.Docs.Snippets;
using AsyncUtils.Testing;
using StackExchange.Redis;

namespace ReadmeSnippets;

internal static class ReadmeCachingRedis
{
    public static async Task RunAsync()
    {
        using RedisServer server = RedisServer.Start(); // a real redis-server on a free loopback port
        await ShowAsync(server.ConnectionString);
    }

    private static async Task ShowAsync(string redisConfiguration)
    {
        int loads = 0;
        async Task<string> LoadPriceAsync(string sku, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref loads);
            await Task.Delay(200, cancellationToken); // a slow call: the other processes wait for it
            return $"price of {sku}: {Volatile.Read(ref loads)}";
        }

        // Another process of the same service, with its own connection.
        await using ConnectionMultiplexer otherRedis = await ConnectionMultiplexer.ConnectAsync(redisConfiguration);
        using var otherLevel = new RedisSecondLevelCache(otherRedis, keyPrefix: "prices:", leaseDuration: TimeSpan.FromSeconds(30));
        using var otherProcess = new DistributedTaskCache<string>(otherLevel, new DistributedCacheOptions<string> { TimeToLive = TimeSpan.FromMinutes(10) });

        // <ReadmeCachingRedis>
        await using ConnectionMultiplexer redis = await ConnectionMultiplexer.ConnectAsync(redisConfiguration); // abortConnect=false

        // One level per process and prefix: values, backplane and a lease per key, all in Redis.
        using var level = new RedisSecondLevelCache(redis, keyPrefix: "prices:", leaseDuration: TimeSpan.FromSeconds(30));
        using var prices = new DistributedTaskCache<string>(level, new DistributedCacheOptions<string> { TimeToLive = TimeSpan.FromMinutes(10) });

        string price = await prices.GetOrAddAsync("sku-1", LoadPriceAsync); // one call for the whole fleet
        await prices.InvalidateAsync("sku-1"); // every process drops its copy; a call under way never writes a stale value
        // </ReadmeCachingRedis>

        Check.That(price == "price of sku-1: 1" && loads == 1, "the first call loads");

        // Two processes ask at once: one call across both, the other waits for its result.
        Task<string> here = prices.GetOrAddAsync("sku-2", LoadPriceAsync);
        Task<string> there = otherProcess.GetOrAddAsync("sku-2", LoadPriceAsync);
        string[] both = await Task.WhenAll(here, there).WaitAsync(TimeSpan.FromSeconds(30));
        Check.That(both[0] == both[1] && loads == 2, $"one call per key across processes ({loads - 1} calls for sku-2)");

        // An invalidation in this process reaches the other one's L1 through the backplane.
        await prices.InvalidateAsync("sku-2");
        string fresh = both[1];
        var watch = Stopwatch.StartNew();
        while (fresh == both[1] && watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(10);
            fresh = await otherProcess.GetOrAddAsync("sku-2", LoadPriceAsync);
        }

        Check.That(fresh != both[1] && loads == 3, "the other process dropped its copy and loaded sku-2 once more");
    }
}
