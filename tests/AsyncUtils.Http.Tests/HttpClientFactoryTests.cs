using System.Net;
using System.Threading.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Http.Tests;

public sealed class HttpClientFactoryTests
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    /// <summary>Counts the handler chains the factory builds.</summary>
    private sealed class ChainCounter
    {
        private int _chains;

        public int Chains => Volatile.Read(ref _chains);

        public DelegatingHandler NewHandler()
        {
            Interlocked.Increment(ref _chains);
            return new PassThrough();
        }

        private sealed class PassThrough : DelegatingHandler;
    }

    [Test]
    public async Task Handlers_recycled_by_the_factory_share_the_one_limiter_lockout_and_semaphore_their_factories_created()
    {
        FakeTimeProvider clock = Clients.FakeClock();
        await using TestServer server = TestServer.Start();
        server.Script((2, new TestReply(HttpStatusCode.TooManyRequests, "30")));
        int limiters = 0, lockouts = 0, semaphores = 0;
        var counter = new ChainCounter();
        var services = new ServiceCollection();
        services.AddHttpClient("api", c => c.BaseAddress = server.BaseAddress)
            .SetHandlerLifetime(TimeSpan.FromSeconds(1)) // the shortest the factory allows
            .AddPriorityConcurrency(_ =>
            {
                Interlocked.Increment(ref semaphores);
                return new PrioritySemaphore(4);
            })
            .AddRateLimiter(_ =>
            {
                Interlocked.Increment(ref limiters);
                return Clients.SlidingLog(3, Minute, queueLimit: 0, clock);
            })
            .AddLockout(_ =>
            {
                Interlocked.Increment(ref lockouts);
                return new Lockout(new LockoutOptions { TimeProvider = clock });
            })
            .AddHttpMessageHandler(counter.NewHandler);
        await using ServiceProvider provider = services.BuildServiceProvider();
        var factory = provider.GetRequiredService<IHttpClientFactory>();

        using (HttpClient first = factory.CreateClient("api"))
        {
            (await first.GetAsync(new Uri("/1", UriKind.Relative))).Dispose();
            using HttpResponseMessage tooMany = await first.GetAsync(new Uri("/2", UriKind.Relative));
            Assert.That(tooMany.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        }

        // The first chain expires after its 1 s lifetime; the next client gets a new chain.
        HttpClient second = factory.CreateClient("api");
        await Wait.UntilAsync(
            () =>
            {
                second.Dispose();
                second = factory.CreateClient("api");
                return counter.Chains >= 2;
            },
            "the factory built a second handler chain");
        using (second)
        {
            // The lockout from the first chain's 429 holds the second chain's request.
            Task<HttpResponseMessage> third = second.GetAsync(new Uri("/3", UriKind.Relative));
            await Wait.BrieflyAsync();
            Assert.That(third.IsCompleted, Is.False, "the new chain waits out the lockout the old chain saw");
            clock.Advance(TimeSpan.FromSeconds(30));
            (await third.WaitAsync(TimeSpan.FromSeconds(10))).Dispose();

            // The third request used the last permit of the minute (the limiter counts across chains).
            await Assert.ThrowsAsync<RateLimitRejectedException>(() => second.GetAsync(new Uri("/4", UriKind.Relative)));
        }

        Assert.That(server.Count, Is.EqualTo(3));
        Assert.That((limiters, lockouts, semaphores), Is.EqualTo((1, 1, 1)), "each factory ran once for every chain");
    }

    [Test]
    public async Task Instances_passed_in_are_shared_across_named_clients_and_not_disposed_with_the_provider()
    {
        FakeTimeProvider clock = Clients.FakeClock();
        await using TestServer server = TestServer.Start();
        server.Script((1, new TestReply(HttpStatusCode.TooManyRequests, "10")));
        var lockout = new Lockout(new LockoutOptions { TimeProvider = clock });
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 10 });
        var services = new ServiceCollection();
        services.AddHttpClient("a", c => c.BaseAddress = server.BaseAddress).AddRateLimiter(limiter).AddLockout(lockout);
        services.AddHttpClient("b", c => c.BaseAddress = server.BaseAddress).AddRateLimiter(limiter).AddLockout(lockout);
        ServiceProvider provider = services.BuildServiceProvider();
        var factory = provider.GetRequiredService<IHttpClientFactory>();

        using HttpClient a = factory.CreateClient("a");
        using HttpClient b = factory.CreateClient("b");
        (await a.GetAsync(new Uri("/", UriKind.Relative))).Dispose();
        Task<HttpResponseMessage> fromB = b.GetAsync(new Uri("/", UriKind.Relative));
        await Wait.UntilAsync(() => lockout.WaitingCount == 1, "client b waiting out client a's 429");
        clock.Advance(TimeSpan.FromSeconds(10));
        (await fromB.WaitAsync(TimeSpan.FromSeconds(10))).Dispose();

        await provider.DisposeAsync();
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True, "the limiter passed in is the caller's: still usable");
    }

    [Test]
    public async Task A_limiter_the_factory_created_is_disposed_with_the_service_provider()
    {
        ConcurrencyLimiter? created = null;
        var services = new ServiceCollection();
        services.AddHttpClient("api").AddRateLimiter(_ => created = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1 }));
        ServiceProvider provider = services.BuildServiceProvider();
        provider.GetRequiredService<IHttpClientFactory>().CreateClient("api").Dispose();
        Assert.That(created, Is.Not.Null);

        await provider.DisposeAsync();
        Assert.That(() => created!.AttemptAcquire(), Throws.InstanceOf<ObjectDisposedException>());
    }

    [Test]
    public async Task Partitioned_limiters_lockout_options_and_priorities_work_through_the_builder_overloads()
    {
        FakeTimeProvider clock = Clients.FakeClock();
        await using TestServer server = TestServer.Start();
        await using TestServer otherHost = TestServer.Start();
        server.Respond = _ => Task.FromResult(new TestReply(HttpStatusCode.ServiceUnavailable, "3600"));
        var lockout = new Lockout(new LockoutOptions { TimeProvider = clock });
        var semaphore = new PrioritySemaphore(1);
        using PartitionedRateLimiter<HttpRequestMessage> byHost = HttpRateLimiterPartitions.ByHost(_ => Clients.SlidingLog(1, Minute, queueLimit: 0, clock));
        var services = new ServiceCollection();
        services.AddHttpClient("instance").AddRateLimiter(byHost);
        services.AddHttpClient("factory")
            .AddPriorityConcurrency(semaphore)
            .AddRateLimiter(_ => HttpRateLimiterPartitions.ByHost(_ => Clients.SlidingLog(1, Minute, queueLimit: 0, clock)))
            .AddLockout(_ => lockout, new LockoutHandlerOptions { MaxLockout = TimeSpan.FromSeconds(10) });
        await using ServiceProvider provider = services.BuildServiceProvider();
        var factory = provider.GetRequiredService<IHttpClientFactory>();

        using (HttpClient instance = factory.CreateClient("instance"))
        {
            (await instance.GetAsync(server.Url("/"))).Dispose();
            (await instance.GetAsync(otherHost.Url("/"))).Dispose();
            await Assert.ThrowsAsync<RateLimitRejectedException>(() => instance.GetAsync(server.Url("/again")));
        }

        using HttpClient http = factory.CreateClient("factory");
        using var request = new HttpRequestMessage(HttpMethod.Get, server.Url("/"));
        request.Options.Set(PriorityConcurrencyHandler.PriorityKey, -3);
        using HttpResponseMessage unavailable = await http.SendAsync(request);

        Assert.That(unavailable.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(lockout.LockedUntil, Is.EqualTo(Clients.Start + TimeSpan.FromSeconds(10)), "the options given with the factory apply (the cap)");
        Assert.That(semaphore.CurrentCount, Is.EqualTo(1));
        Assert.That((server.Count, otherHost.Count), Is.EqualTo((2, 1)));
    }

    [Test]
    public void A_factory_that_returns_null_fails_clearly_when_the_client_is_created()
    {
        var services = new ServiceCollection();
        services.AddHttpClient("api").AddLockout(_ => null!);
        using ServiceProvider provider = services.BuildServiceProvider();

        Assert.That(
            () => provider.GetRequiredService<IHttpClientFactory>().CreateClient("api"),
            Throws.InvalidOperationException.With.Message.Contains("lockout factory").And.Message.Contains("'api'").And.Message.Contains("returned null"));
    }

    [Test]
    public void Null_arguments_are_refused_naming_them()
    {
        var services = new ServiceCollection();
        IHttpClientBuilder builder = services.AddHttpClient("api");
        IHttpClientBuilder none = null!;
        Assert.Multiple(() =>
        {
            Assert.That(() => none.AddRateLimiter(new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1 })), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("builder"));
            Assert.That(() => builder.AddRateLimiter((RateLimiter)null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("limiter"));
            Assert.That(() => builder.AddRateLimiter((PartitionedRateLimiter<HttpRequestMessage>)null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("limiter"));
            Assert.That(() => builder.AddRateLimiter((Func<IServiceProvider, RateLimiter>)null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("limiterFactory"));
            Assert.That(() => builder.AddRateLimiter((Func<IServiceProvider, PartitionedRateLimiter<HttpRequestMessage>>)null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("limiterFactory"));
            Assert.That(() => builder.AddLockout((Lockout)null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("lockout"));
            Assert.That(() => builder.AddLockout((Func<IServiceProvider, Lockout>)null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("lockoutFactory"));
            Assert.That(() => none.AddLockout(new Lockout()), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("builder"));
            Assert.That(() => builder.AddPriorityConcurrency((PrioritySemaphore)null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("semaphore"));
            Assert.That(() => builder.AddPriorityConcurrency((Func<IServiceProvider, PrioritySemaphore>)null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("semaphoreFactory"));
            Assert.That(() => none.AddPriorityConcurrency(new PrioritySemaphore(1)), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("builder"));
        });
    }
}
