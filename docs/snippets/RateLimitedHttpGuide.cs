using System.Net;
using AsyncUtils;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Docs.Snippets;

// <RateLimitedClient>
/// <summary>A client for an API that allows 10 calls per second and answers 429 with Retry-After.</summary>
internal sealed class WeatherClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly SlidingLogRateLimiter _limiter;
    private readonly Lockout _lockout;
    private readonly TaskCache<string, string> _cache;

    public WeatherClient(HttpClient http, TimeProvider time)
    {
        _http = http;
        // Our own budget: never more than 10 calls in any second, callers queue in FIFO order.
        _limiter = new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions
        {
            Windows = { new SlidingLogWindow(permitLimit: 10, period: TimeSpan.FromSeconds(1)) },
            QueueLimit = 1_000,
            TimeProvider = time,
        });
        // The server's word: after a 429, nobody calls until its Retry-After has passed.
        _lockout = new Lockout(new LockoutOptions { TimeProvider = time });
        // Identical questions within a minute share one call, and its answer.
        _cache = new TaskCache<string, string>(new TaskCacheOptions<string, string>
        {
            MaxSize = 10_000,
            TimeToLive = TimeSpan.FromMinutes(1),
            TimeProvider = time,
        });
    }

    /// <summary>The forecast for a city: cached, rate-limited, and patient with 429s.</summary>
    public Task<string> GetForecastAsync(string city, CancellationToken cancellationToken) =>
        // The caller's token only stops this caller waiting; the shared call goes on for the others.
        _cache.GetOrAddAsync(city, (key, ct) => FetchAsync(key, ct)).WaitAsync(cancellationToken);

    private async Task<string> FetchAsync(string city, CancellationToken cancellationToken)
    {
        while (true)
        {
            // Rate limiter first, lockout last, as the Python library async-utils advises: a caller
            // that waited for a permit still respects a lockout that began meanwhile.
            await using (await _limiter.EnterAsync(cancellationToken))
            {
                await _lockout.EnterAsync(cancellationToken);
                using HttpResponseMessage response = await _http.GetAsync(
                    new Uri($"https://weather.example/forecast/{Uri.EscapeDataString(city)}"), cancellationToken);
                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    _lockout.LockForRetryAfter(response.Headers.RetryAfter, maxDuration: TimeSpan.FromMinutes(5));
                    continue; // try again once the lockout ends
                }

                response.EnsureSuccessStatusCode();
                return await response.Content.ReadAsStringAsync(cancellationToken);
            }
        }
    }

    public void Dispose() => _limiter.Dispose();
}
// </RateLimitedClient>

internal static class RateLimitedHttpGuide
{
    public static async Task RunAsync()
    {
        var clock = new FakeTimeProvider();
        using var handler = new TooManyRequestsOnceHandler();
        using var http = new HttpClient(handler);
        using var client = new WeatherClient(http, clock);

        Task<string> first = client.GetForecastAsync("Oslo", CancellationToken.None);
        Task<string> second = client.GetForecastAsync("Oslo", CancellationToken.None);
        for (int i = 0; i < 200 && !first.IsCompleted; i++)
        {
            await Task.Delay(5); // let the 429 arrive and the lockout begin, then let 2 s pass
            clock.Advance(TimeSpan.FromMilliseconds(100));
        }

        string forecast = await first.WaitAsync(TimeSpan.FromSeconds(30));
        Check.That(forecast == "sunny in Oslo" && await second == forecast, "callers share the call that outlasted the 429");
        Check.That(handler.Requests == 2, "one 429 and one retry, for two callers");
    }

    private sealed class TooManyRequestsOnceHandler : HttpMessageHandler
    {
        public int Requests;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref Requests) == 1)
            {
                var tooMany = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
                tooMany.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(2));
                return Task.FromResult(tooMany);
            }

            string city = Uri.UnescapeDataString(request.RequestUri!.Segments[^1]);
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent($"sunny in {city}") });
        }
    }
}
