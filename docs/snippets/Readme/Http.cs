using System.Net;
using AsyncUtils.Docs.Snippets;
using AsyncUtils;
using Microsoft.Extensions.DependencyInjection;

namespace ReadmeSnippets;

internal static class ReadmeHttp
{
    public static async Task RunAsync()
    {
        CancellationToken ct = CancellationToken.None;

        // <ReadmeHttp>
        var services = new ServiceCollection();
        var lockout = new Lockout(); // one per API: after a 429, every client of it waits

        IHttpClientBuilder api = services.AddHttpClient("api", c => c.BaseAddress = new Uri("https://api.example/"));
        // api.AddStandardResilienceHandler();                 // if you use it: first, so that it is outermost
        api.AddPriorityConcurrency(new PrioritySemaphore(4))   // at most 4 in flight, lowest priority number first
           .AddRateLimiter(_ => new SlidingLogRateLimiter(permitLimit: 10, period: TimeSpan.FromSeconds(1), queueLimit: 100))
           .AddLockout(lockout, new LockoutHandlerOptions { MaxLockout = TimeSpan.FromSeconds(30) });
        // </ReadmeHttp>

        var fakeApi = new TooManyRequestsOnce();
        api.ConfigurePrimaryHttpMessageHandler(() => fakeApi);

        // <ReadmeHttpSend>
        await using ServiceProvider provider = services.BuildServiceProvider();
        HttpClient http = provider.GetRequiredService<IHttpClientFactory>().CreateClient("api");

        using var request = new HttpRequestMessage(HttpMethod.Get, "items/42");
        request.Options.Set(PriorityConcurrencyHandler.PriorityKey, -1); // ahead of the queue (or PriorityContext.Enter(-1))
        try
        {
            using HttpResponseMessage response = await http.SendAsync(request, ct);
            // A 429 comes back as it came, and the lockout now holds every request until its Retry-After.
        }
        catch (RateLimitRejectedException ex) // your own budget said no (its queue is full): nothing was sent
        {
            Console.WriteLine($"over budget, retry in {ex.RetryAfter}");
        }
        // </ReadmeHttpSend>

        Check.That(fakeApi.Requests == 1 && lockout.IsLocked, "the 429 with Retry-After locks the lockout for everyone");
        using HttpResponseMessage next = await http.GetAsync(new Uri("items/43", UriKind.Relative), ct).WaitAsync(TimeSpan.FromSeconds(30));
        Check.That(next.StatusCode == HttpStatusCode.OK && fakeApi.Requests == 2, "the next request waits for the lockout to end, then goes");
    }

    private sealed class TooManyRequestsOnce : HttpMessageHandler
    {
        private int _requests;

        public int Requests => Volatile.Read(ref _requests);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (Interlocked.Increment(ref _requests) == 1)
            {
                var limited = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
                limited.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(1));
                return Task.FromResult(limited);
            }

            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
        }
    }
}
