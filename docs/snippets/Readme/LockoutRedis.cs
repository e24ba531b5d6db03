using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using AsyncUtils;
using AsyncUtils.Docs.Snippets;
using AsyncUtils.Testing;
using StackExchange.Redis;

namespace ReadmeSnippets;

internal static class ReadmeLockoutRedis
{
    public static async Task RunAsync()
    {
        using RedisServer server = RedisServer.Start(); // a real redis-server on a free loopback port
        await ShowAsync(server.ConnectionString);
    }

    private static async Task ShowAsync(string redisConfiguration)
    {
        CancellationToken ct = CancellationToken.None;
        using var http = new HttpClient(new TooManyRequests()) { BaseAddress = new Uri("https://orders.example/") };

        // Another process of the same service.
        await using ConnectionMultiplexer otherRedis = await ConnectionMultiplexer.ConnectAsync(redisConfiguration);
        await using RedisLockout otherProcess = await RedisLockout.CreateAsync(otherRedis, new RedisLockoutOptions { Name = "orders-api" }, ct);

        // <ReadmeLockoutRedis>
        await using ConnectionMultiplexer redis = await ConnectionMultiplexer.ConnectAsync(redisConfiguration);

        // Once per process, with the same Name in every process of the service.
        await using RedisLockout lockout = await RedisLockout.CreateAsync(redis, new RedisLockoutOptions { Name = "orders-api" }, ct);

        await lockout.EnterAsync(ct); // before each call: at once while unlocked, no I/O
        using HttpResponseMessage response = await http.GetAsync(new Uri("orders/42", UriKind.Relative), ct);
        if (response.StatusCode == HttpStatusCode.TooManyRequests)
        {
            // Locks this process at once, and every process with the same Name shortly after.
            lockout.LockForRetryAfter(response.Headers.RetryAfter, maxDuration: TimeSpan.FromMinutes(5));
        }
        // </ReadmeLockoutRedis>

        Check.That(lockout.IsLocked, "the 429 locks this process at once");
        var watch = Stopwatch.StartNew();
        while (!otherProcess.IsLocked && watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(10, ct);
        }

        Check.That(otherProcess.IsLocked && !otherProcess.TryEnter(), "the other process is locked too, through Redis");
    }

    /// <summary>The remote API, in process: every answer is "429, Retry-After: 30".</summary>
    private sealed class TooManyRequests : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var limited = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
            limited.Headers.RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromSeconds(30));
            return Task.FromResult(limited);
        }
    }
}
