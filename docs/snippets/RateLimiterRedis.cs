using System.Threading.RateLimiting;
using AsyncUtils;
using AsyncUtils.Testing;
using StackExchange.Redis;

namespace AsyncUtils.Docs.Snippets;

internal static class RateLimiterRedisSnippets
{
    public static async Task RunAsync()
    {
        using RedisServer server = RedisServer.Start(); // a real redis-server on a free loopback port
        await ShowAsync(server.ConnectionString);
    }

    private static async Task ShowAsync(string redisConfiguration)
    {
        CancellationToken ct = CancellationToken.None;

        // <RateLimiterRedisFleet>
        // Two processes of one service, each with its own connection and its own limiter object.
        await using ConnectionMultiplexer processA = await ConnectionMultiplexer.ConnectAsync(redisConfiguration);
        await using ConnectionMultiplexer processB = await ConnectionMultiplexer.ConnectAsync(redisConfiguration);

        static RedisSlidingLogRateLimiterOptions Options() => new()
        {
            Name = "orders-api",                                   // the same name: one shared limit
            Windows = { new SlidingLogWindow(3, TimeSpan.FromSeconds(1)) },
            QueueLimit = 10,
        };

        await using var limiterA = new RedisSlidingLogRateLimiter(processA, Options());
        await using var limiterB = new RedisSlidingLogRateLimiter(processB, Options());

        using RateLimitLease a1 = await limiterA.AcquireAsync(2, ct); // 2 of the 3 permits of this second
        using RateLimitLease b1 = await limiterB.AcquireAsync(1, ct); // the third, from the other process

        // A fourth permit in the same second would exceed the fleet's limit: it waits in the
        // fleet-wide queue until the first grants leave the window, one second after them.
        using RateLimitLease b2 = await limiterB.AcquireAsync(1, ct);

        a1.TryGetMetadata(RedisRateLimitMetadata.GrantedAt, out DateTimeOffset first);
        b2.TryGetMetadata(RedisRateLimitMetadata.GrantedAt, out DateTimeOffset fourth);
        Console.WriteLine($"the fourth permit came {fourth - first} after the first, on Redis's clock"); // >= 1 s
        // </RateLimiterRedisFleet>

        Check.That(a1.IsAcquired && b1.IsAcquired && b2.IsAcquired, "every permit is granted, the fourth after waiting");
        Check.That(first != default && fourth - first >= TimeSpan.FromSeconds(1),
            $"at most 3 permits in any second across both processes (the fourth came {fourth - first} after the first)");
    }
}
