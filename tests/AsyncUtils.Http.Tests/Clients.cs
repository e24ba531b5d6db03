using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Http.Tests;

internal static class Clients
{
    public static readonly DateTimeOffset Start = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>An HttpClient whose handler chain is <paramref name="handlers"/>, outermost first, then a SocketsHttpHandler.</summary>
    public static HttpClient Over(TestServer server, params DelegatingHandler[] handlers)
    {
        HttpMessageHandler inner = new SocketsHttpHandler();
        for (int i = handlers.Length - 1; i >= 0; i--)
        {
            handlers[i].InnerHandler = inner;
            inner = handlers[i];
        }

        return new HttpClient(inner) { BaseAddress = server.BaseAddress };
    }

    public static SlidingLogRateLimiter SlidingLog(int permits, TimeSpan period, int queueLimit, TimeProvider clock) =>
        new(new SlidingLogRateLimiterOptions
        {
            Windows = { new SlidingLogWindow(permits, period) },
            QueueLimit = queueLimit,
            TimeProvider = clock,
        });

    public static long Queued(RateLimiter limiter) => limiter.GetStatistics()!.CurrentQueuedCount;

    public static long Available(RateLimiter limiter) => limiter.GetStatistics()!.CurrentAvailablePermits;

    public static FakeTimeProvider FakeClock() => new(Start);
}
