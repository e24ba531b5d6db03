using System.Diagnostics;
using AsyncUtils;
using AsyncUtils.Testing;
using StackExchange.Redis;

namespace AsyncUtils.Docs.Snippets;

internal static class LockoutRedisSnippets
{
    public static async Task RunAsync()
    {
        using RedisServer server = RedisServer.Start(); // a real redis-server on a free loopback port
        await ShowAsync(server.ConnectionString);
    }

    private static async Task ShowAsync(string redisConfiguration)
    {
        CancellationToken ct = CancellationToken.None;

        // <LockoutRedisFleet>
        // Two processes of one service, each with its own connection.
        await using ConnectionMultiplexer redisA = await ConnectionMultiplexer.ConnectAsync(redisConfiguration);
        await using ConnectionMultiplexer redisB = await ConnectionMultiplexer.ConnectAsync(redisConfiguration);
        var options = new RedisLockoutOptions { Name = "orders-api", MaxDuration = TimeSpan.FromMinutes(5) };
        await using RedisLockout processA = await RedisLockout.CreateAsync(redisA, options, ct);
        await using RedisLockout processB = await RedisLockout.CreateAsync(redisB, options, ct);

        processA.LockFor(TimeSpan.FromSeconds(2)); // process A was told "429, Retry-After: 2"
        // </LockoutRedisFleet>

        var watch = Stopwatch.StartNew();
        while (!processB.IsLocked && watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(10, ct); // the lock reaches B within one trip to Redis and the pub/sub delivery
        }

        Check.That(processA.IsLocked && processB.IsLocked, "a lock set in one process holds back the other");
        watch.Restart();

        // <LockoutRedisEnter>
        // Process B never saw the 429, yet it waits until the shared end (on its own clock,
        // corrected by its measured offset from Redis's clock):
        Console.WriteLine($"B is locked until {processB.LockedUntil:O}");
        await processB.EnterAsync(ct);
        // </LockoutRedisEnter>

        Check.That(watch.Elapsed >= TimeSpan.FromSeconds(1) && watch.Elapsed < TimeSpan.FromSeconds(30),
            $"process B waited for the lockout process A set ({watch.Elapsed})");
        Check.That(!processB.IsLocked && processB.TryEnter(), "after the shared end, B enters at once");
    }
}
