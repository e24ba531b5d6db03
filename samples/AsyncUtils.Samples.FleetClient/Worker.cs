using System.Net;
using System.Threading.RateLimiting;
using AsyncUtils;
using StackExchange.Redis;

namespace FleetClientSample;

/// <summary>
/// One process of the fleet: its own Redis connection, and through it the limit and the lockout
/// that every process shares. Each request first waits out the shared lockout, then takes a permit
/// from the shared limiter, then goes to the API; a 429 locks the whole fleet out for its
/// Retry-After and the request is tried again.
/// </summary>
internal static class Worker
{
    /// <summary>The API's limit, the one the fleet must keep to.</summary>
    public const int ApiLimit = 10;

    /// <summary>The API's window.</summary>
    public static readonly TimeSpan ApiWindow = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The window the fleet keeps to: the API's plus a margin for the time between a permit being
    /// granted (on the Redis server's clock) and the request arriving at the API (on the API's
    /// clock). The limiter is exact on grant times, but the API counts arrival times, and in
    /// between a queued request's process learns of its grant (the grant may be made by another
    /// process's call), sends it, and the API accepts it; on a busy machine that can take a few
    /// hundred milliseconds.
    /// </summary>
    public static readonly TimeSpan FleetWindow = ApiWindow + TimeSpan.FromMilliseconds(500);

    public static async Task<int> RunAsync(string redis, Uri api, string id, int requests, int callers)
    {
        await using ConnectionMultiplexer connection = await ConnectionMultiplexer.ConnectAsync(redis);

        // One limit for the whole fleet: every process that uses this name on this Redis shares it.
        await using var limiter = new RedisSlidingLogRateLimiter(connection, new RedisSlidingLogRateLimiterOptions
        {
            Name = "fleet-client-sample:api",
            Windows = { new SlidingLogWindow(ApiLimit, FleetWindow) },
            QueueLimit = callers,
        });

        // One lockout for the whole fleet: a 429 seen by any process holds every process back.
        await using RedisLockout lockout = await RedisLockout.CreateAsync(connection, new RedisLockoutOptions
        {
            Name = "fleet-client-sample:api",
            MaxDuration = TimeSpan.FromSeconds(30),
        });

        using var http = new HttpClient { BaseAddress = api };
        Console.WriteLine("ready");
        while (await Console.In.ReadLineAsync() is { } line && line != "go")
        {
        }

        int next = 0;
        int sent = 0;
        int tooMany = 0;
        int unused = 0;
        async Task CallerAsync()
        {
            int n;
            while ((n = Interlocked.Increment(ref next)) <= requests)
            {
                string path = $"/items/{id}-{n}";
                while (true)
                {
                    await lockout.EnterAsync(); // returns at once, without I/O, unless the fleet is locked out
                    using RateLimitLease lease = await limiter.AcquireAsync(1);
                    if (!lease.IsAcquired)
                    {
                        // Refused rather than queued (for example Redis cannot be reached): wait and try again.
                        await Task.Delay(lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan wait) ? wait : TimeSpan.FromMilliseconds(100));
                        continue;
                    }

                    if (lockout.IsLocked)
                    {
                        // The fleet was locked out while this request waited for its permit. Sending it
                        // later would put it in a later window than the one the limiter counted it in,
                        // so the permit is left unused and the request waits for a new one.
                        Interlocked.Increment(ref unused);
                        continue;
                    }

                    Interlocked.Increment(ref sent);
                    using HttpResponseMessage response = await http.GetAsync(new Uri(path, UriKind.Relative));
                    if (response.StatusCode == HttpStatusCode.TooManyRequests)
                    {
                        Interlocked.Increment(ref tooMany);
                        TimeSpan held = lockout.LockForRetryAfter(response.Headers.RetryAfter, TimeSpan.FromSeconds(30));
                        Console.WriteLine($"GET {path} -> 429, Retry-After: {response.Headers.RetryAfter}: the whole fleet waits {held.TotalSeconds:0.0} s");
                        continue;
                    }

                    response.EnsureSuccessStatusCode();
                    Console.WriteLine($"GET {path} -> {(int)response.StatusCode}");
                    break;
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, callers).Select(_ => Task.Run(CallerAsync)));
        Console.WriteLine($"done: {requests} requests answered, {sent} sent, {tooMany} got 429, {unused} permits left unused because of a lockout");
        return 0;
    }
}
