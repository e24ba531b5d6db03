using System.Net;
using System.Net.Http.Headers;
using AsyncUtils;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Docs.Snippets;

internal static class HttpSnippets
{
    public static async Task RunAsync()
    {
        CancellationToken ct = CancellationToken.None;
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

        // <HttpClientFactory>
        var services = new ServiceCollection();
        services.AddSingleton(new Lockout(new LockoutOptions { TimeProvider = clock })); // one per remote API

        IHttpClientBuilder github = services
            .AddHttpClient("github", c => c.BaseAddress = new Uri("https://api.github.example/"))
            .AddRateLimiter(_ => new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions
            {
                Windows = { new SlidingLogWindow(2, TimeSpan.FromSeconds(1)) }, // 2 requests a second
                QueueLimit = 10,
                TimeProvider = clock,
            }))
            .AddLockout(sp => sp.GetRequiredService<Lockout>(), new LockoutHandlerOptions { MaxLockout = TimeSpan.FromMinutes(1) });
        // </HttpClientFactory>

        var api = new FakeApi(); // answers 429 with "Retry-After: 30" to repos/b, 200 to everything else
        github.ConfigurePrimaryHttpMessageHandler(() => api);

        // <HttpClientFactorySend>
        await using ServiceProvider provider = services.BuildServiceProvider();
        HttpClient client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("github");

        using HttpResponseMessage first = await client.GetAsync(new Uri("repos/a", UriKind.Relative), ct);   // 200
        using HttpResponseMessage limited = await client.GetAsync(new Uri("repos/b", UriKind.Relative), ct); // 429, Retry-After: 30

        // Waits for the limiter's next permit (1 s), then for the lockout the 429 started (30 s):
        Task<HttpResponseMessage> third = client.GetAsync(new Uri("repos/c", UriKind.Relative), ct);
        // </HttpClientFactorySend>

        Check.That(first.StatusCode == HttpStatusCode.OK && limited.StatusCode == HttpStatusCode.TooManyRequests, "the 429 is returned as it came");
        Check.That(!third.IsCompleted && api.Requests == 2, "the third request waits for a permit: 2 a second");
        Check.That(provider.GetRequiredService<Lockout>().IsLocked, "the 429 locked the shared lockout");

        clock.Advance(TimeSpan.FromSeconds(1));
        await Task.Delay(100, ct); // let the permit's timer run: the request now waits in the lockout
        Check.That(!third.IsCompleted && api.Requests == 2, "with a permit, the request still waits for the lockout to end");

        clock.Advance(TimeSpan.FromSeconds(29));
        using HttpResponseMessage after = await third.WaitAsync(TimeSpan.FromSeconds(30), ct);
        Check.That(after.StatusCode == HttpStatusCode.OK && api.Requests == 3, "after the Retry-After the request is sent");
    }

    /// <summary>The remote API, in process: no network.</summary>
    private sealed class FakeApi : HttpMessageHandler
    {
        private int _requests;

        public int Requests => Volatile.Read(ref _requests);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _requests);
            if (request.RequestUri!.AbsolutePath.EndsWith("/repos/b", StringComparison.Ordinal))
            {
                var limited = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
                limited.Headers.RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromSeconds(30));
                return Task.FromResult(limited);
            }

            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
        }
    }
}
