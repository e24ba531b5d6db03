using System.Threading.RateLimiting;
using AsyncUtils;
using AsyncUtils.Docs.Snippets;
using AsyncUtils.Testing;
using StackExchange.Redis;

namespace ReadmeSnippets;

internal static class ReadmeRateLimiterRedis
{
    public static async Task RunAsync()
    {
        using RedisServer server = RedisServer.Start(); // a real redis-server on a free loopback port
        await ShowAsync(server.ConnectionString);
    }

    private static async Task ShowAsync(string redisConfiguration)
    {
        CancellationToken ct = CancellationToken.None;
        int calls = 0;
        Task CallTheApiAsync(CancellationToken cancellationToken)
        {
            calls++;
            return Task.CompletedTask;
        }

        // <ReadmeRateLimiterRedis>
        await using ConnectionMultiplexer redis = await ConnectionMultiplexer.ConnectAsync(redisConfiguration);

        // Every process creates the same limiter: one limit for the whole fleet, decided on Redis's clock.
        await using var limiter = new RedisSlidingLogRateLimiter(redis, new RedisSlidingLogRateLimiterOptions
        {
            Name = "github-api",
            Windows = { new(100, TimeSpan.FromSeconds(1)), new(5_000, TimeSpan.FromHours(1)) },
            QueueLimit = 1_000,                                  // permits that may wait in this process
            FailureMode = RedisRateLimiterFailureMode.Closed,    // the default: never over-grant
        });

        await using (RateLimitScope permit = await limiter.EnterAsync(ct)) // waits in the fleet-wide FIFO queue
        {
            permit.Lease.TryGetMetadata(RedisRateLimitMetadata.GrantedAt, out DateTimeOffset grantedAt);
            Console.WriteLine($"granted at {grantedAt:O} on Redis's clock");
            await CallTheApiAsync(ct);
        }
        // </ReadmeRateLimiterRedis>

        Check.That(calls == 1, "the permit was granted and the call made");
        Check.That(limiter.GetStatistics()?.TotalSuccessfulLeases == 1, "the limiter counted one grant");
    }
}
