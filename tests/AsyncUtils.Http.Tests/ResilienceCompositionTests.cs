using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace AsyncUtils.Http.Tests;

/// <summary>The recommended order with Microsoft.Extensions.Http.Resilience, on real time (a 1 s Retry-After).</summary>
public sealed class ResilienceCompositionTests
{
    [Test]
    public async Task Inside_the_standard_resilience_handler_every_retry_takes_a_permit_and_waits_out_the_lockout_every_client_shares()
    {
        await using TestServer server = TestServer.Start();
        server.Script((1, new TestReply(HttpStatusCode.TooManyRequests, "1")));
        var lockout = new Lockout();
        using var limiter = new SlidingLogRateLimiter(permitLimit: 10, period: TimeSpan.FromMinutes(1), queueLimit: 10);
        var services = new ServiceCollection();

        // The recommended order: resilience outermost, then priority, rate limit, lockout.
        IHttpClientBuilder api = services.AddHttpClient("api", c => c.BaseAddress = server.BaseAddress);
        api.AddStandardResilienceHandler(o =>
        {
            o.Retry.Delay = TimeSpan.FromMilliseconds(10);
            o.Retry.BackoffType = DelayBackoffType.Constant;
            o.Retry.UseJitter = false;
            o.Retry.ShouldRetryAfterHeader = false; // so that the wait measured below is the lockout's
        });
        api.AddPriorityConcurrency(new PrioritySemaphore(4))
            .AddRateLimiter(limiter)
            .AddLockout(lockout, new LockoutHandlerOptions { MaxLockout = TimeSpan.FromSeconds(5) });

        // Another client of the same API, without retries, shares the lockout.
        services.AddHttpClient("other", c => c.BaseAddress = server.BaseAddress).AddLockout(lockout);
        await using ServiceProvider provider = services.BuildServiceProvider();
        var factory = provider.GetRequiredService<IHttpClientFactory>();
        using HttpClient http = factory.CreateClient("api");
        using HttpClient other = factory.CreateClient("other");

        Task<HttpResponseMessage> retried = http.GetAsync(new Uri("/retried", UriKind.Relative));
        await Wait.UntilAsync(() => lockout.IsLocked || retried.IsCompleted, "the 429 locks the lockout");
        DateTimeOffset lockedUntil = lockout.LockedUntil!.Value;
        using HttpResponseMessage fromOther = await other.GetAsync(new Uri("/other", UriKind.Relative));
        using HttpResponseMessage response = await retried;

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the retry succeeded");
        Assert.That(fromOther.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        IReadOnlyList<TestRequest> seen = server.Requests;
        Assert.That(seen.Select(r => r.Path).Order(), Is.EqualTo(new[] { "/other", "/retried", "/retried" }));
        Assert.That(seen.Skip(1).Select(r => r.At), Is.All.GreaterThanOrEqualTo(lockedUntil - TimeSpan.FromMilliseconds(20)), "the retry and the other client waited for the Retry-After");
        Assert.That(limiter.GetStatistics()!.TotalSuccessfulLeases, Is.EqualTo(2), "each attempt took a permit");
    }
}
