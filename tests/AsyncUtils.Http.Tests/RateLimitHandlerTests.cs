using System.Net;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Http.Tests;

public sealed class RateLimitHandlerTests
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    private static readonly HttpRequestOptionsKey<string> TenantKey = new("tenant");

    [Test]
    public async Task At_most_the_permit_limit_reaches_the_server_in_any_window_and_the_rest_wait_their_turn()
    {
        FakeTimeProvider clock = Clients.FakeClock();
        await using TestServer server = TestServer.Start();
        server.Clock = clock;
        using SlidingLogRateLimiter limiter = Clients.SlidingLog(3, Minute, queueLimit: 10, clock);
        using HttpClient http = Clients.Over(server, new RateLimitHandler(limiter));

        Task<HttpResponseMessage>[] sends = [.. Enumerable.Range(1, 8).Select(i => http.GetAsync(new Uri($"/r{i}", UriKind.Relative)))];

        await Wait.UntilAsync(() => server.Count == 3 && Clients.Queued(limiter) == 5, "3 sent and 5 queued");
        await Wait.BrieflyAsync();
        Assert.That(server.Count, Is.EqualTo(3), "nothing beyond the limit is sent before the window slides");

        clock.Advance(Minute);
        await Wait.UntilAsync(() => server.Count == 6 && Clients.Queued(limiter) == 2, "3 more sent after a minute");
        clock.Advance(Minute);
        await Wait.UntilAsync(() => server.Count == 8, "the last 2 sent");

        HttpResponseMessage[] responses = await Task.WhenAll(sends);
        Assert.That(responses.Select(r => r.StatusCode), Is.All.EqualTo(HttpStatusCode.OK));
        IReadOnlyList<TestRequest> seen = server.Requests;
        foreach (TestRequest first in seen)
        {
            Assert.That(seen.Count(r => r.At >= first.At && r.At < first.At + Minute), Is.LessThanOrEqualTo(3), $"requests in the minute from {first.At:O}");
        }

        foreach (HttpResponseMessage response in responses)
        {
            response.Dispose();
        }
    }

    [Test]
    public async Task A_refused_request_is_not_sent_and_throws_RateLimitRejectedException_with_the_retry_after()
    {
        FakeTimeProvider clock = Clients.FakeClock();
        await using TestServer server = TestServer.Start();
        using SlidingLogRateLimiter limiter = Clients.SlidingLog(1, Minute, queueLimit: 0, clock);
        using HttpClient http = Clients.Over(server, new RateLimitHandler(limiter));

        using HttpResponseMessage first = await http.GetAsync(new Uri("/a", UriKind.Relative));
        var refused = await Assert.ThrowsAsync<RateLimitRejectedException>(() => http.GetAsync(new Uri("/b", UriKind.Relative)));

        Assert.That(refused!.RetryAfter, Is.EqualTo(Minute));
        Assert.That(refused.Message, Does.Contain("not sent"));
        Assert.That(server.Count, Is.EqualTo(1));

        clock.Advance(Minute);
        using HttpResponseMessage later = await http.GetAsync(new Uri("/c", UriKind.Relative));
        Assert.That(server.Count, Is.EqualTo(2), "the handler is usable after a refusal");
    }

    [Test]
    public async Task A_cancelled_wait_leaves_the_queue_and_takes_no_permit()
    {
        FakeTimeProvider clock = Clients.FakeClock();
        await using TestServer server = TestServer.Start();
        using SlidingLogRateLimiter limiter = Clients.SlidingLog(1, Minute, queueLimit: 10, clock);
        using HttpClient http = Clients.Over(server, new RateLimitHandler(limiter));

        using HttpResponseMessage first = await http.GetAsync(new Uri("/a", UriKind.Relative));
        using var cts = new CancellationTokenSource();
        Task<HttpResponseMessage> waiting = http.GetAsync(new Uri("/b", UriKind.Relative), cts.Token);
        await Wait.UntilAsync(() => Clients.Queued(limiter) == 1, "the second request queued");

        await cts.CancelAsync();
        await Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), () => waiting);
        Assert.That(Clients.Queued(limiter), Is.Zero);

        clock.Advance(Minute);
        Assert.That(Clients.Available(limiter), Is.EqualTo(1), "the cancelled wait took nothing");
        using HttpResponseMessage third = await http.GetAsync(new Uri("/c", UriKind.Relative));
        Assert.That(server.Requests.Select(r => r.Path), Is.EqualTo(new[] { "/a", "/c" }));
    }

    [Test]
    public async Task A_concurrency_limiter_lease_is_held_until_the_response_and_returned_however_the_request_ends()
    {
        await using TestServer server = TestServer.Start();
        var release = new TaskCompletionSource<TestReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Respond = r => r.Path == "/held" ? release.Task : Task.FromResult(TestReply.Ok);
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 10 });
        using HttpClient http = Clients.Over(server, new RateLimitHandler(limiter));

        // Held on the wire: the permit is taken; a second request queues; cancelling it hands nothing back twice.
        Task<HttpResponseMessage> held = http.GetAsync(new Uri("/held", UriKind.Relative));
        await Wait.UntilAsync(() => server.Count == 1, "the first request on the wire");
        Assert.That(Clients.Available(limiter), Is.Zero);
        using (var cts = new CancellationTokenSource())
        {
            Task<HttpResponseMessage> queued = http.GetAsync(new Uri("/queued", UriKind.Relative), cts.Token);
            await Wait.UntilAsync(() => Clients.Queued(limiter) == 1, "the second request queued");
            await cts.CancelAsync();
            await Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), () => queued);
        }

        release.SetResult(TestReply.Ok);
        (await held).Dispose();
        Assert.That(Clients.Available(limiter), Is.EqualTo(1), "returned after the response");

        // Cancelled while on the wire.
        var never = new TaskCompletionSource<TestReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Respond = _ => never.Task;
        using (var cts = new CancellationTokenSource())
        {
            Task<HttpResponseMessage> onTheWire = http.GetAsync(new Uri("/cancelled", UriKind.Relative), cts.Token);
            await Wait.UntilAsync(() => server.Count == 2, "the request on the wire");
            await cts.CancelAsync();
            await Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), () => onTheWire);
        }

        Assert.That(Clients.Available(limiter), Is.EqualTo(1), "returned after a cancellation on the wire");
        never.SetResult(TestReply.Ok);

        // The connection is refused.
        using HttpClient refused = Clients.Over(server, new RateLimitHandler(limiter));
        await Assert.ThrowsAsync<HttpRequestException>(() => refused.GetAsync(new Uri($"http://127.0.0.1:{TestServer.FreePort()}/")));
        Assert.That(Clients.Available(limiter), Is.EqualTo(1), "returned after a failed request");
    }

    [Test]
    public async Task Partitioned_by_host_each_host_has_its_own_budget()
    {
        FakeTimeProvider clock = Clients.FakeClock();
        await using TestServer a = TestServer.Start();
        await using TestServer b = TestServer.Start();
        var created = new List<string>();
        using PartitionedRateLimiter<HttpRequestMessage> limiter = HttpRateLimiterPartitions.ByHost(host =>
        {
            lock (created)
            {
                created.Add(host);
            }

            return Clients.SlidingLog(1, Minute, queueLimit: 0, clock);
        });
        using HttpClient http = Clients.Over(a, new RateLimitHandler(limiter));

        (await http.GetAsync(a.Url("/1"))).Dispose();
        (await http.GetAsync(b.Url("/1"))).Dispose();
        await Assert.ThrowsAsync<RateLimitRejectedException>(() => http.GetAsync(a.Url("/2")));
        await Assert.ThrowsAsync<RateLimitRejectedException>(() => http.GetAsync(b.Url("/2")));

        Assert.That((a.Count, b.Count), Is.EqualTo((1, 1)));
        Assert.That(created, Is.EqualTo(new[] { a.BaseAddress.Authority, b.BaseAddress.Authority }));
    }

    [Test]
    public async Task Partitioned_by_a_key_of_the_request_each_key_has_its_own_budget()
    {
        FakeTimeProvider clock = Clients.FakeClock();
        await using TestServer server = TestServer.Start();
        using PartitionedRateLimiter<HttpRequestMessage> limiter = HttpRateLimiterPartitions.ByKey(
            request => request.Options.TryGetValue(TenantKey, out string? tenant) ? tenant : "anonymous",
            _ => Clients.SlidingLog(1, Minute, queueLimit: 0, clock));
        using HttpClient http = Clients.Over(server, new RateLimitHandler(limiter));

        Task<HttpResponseMessage> Send(string? tenant)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/", UriKind.Relative));
            if (tenant is not null)
            {
                request.Options.Set(TenantKey, tenant);
            }

            return http.SendAsync(request);
        }

        (await Send("a")).Dispose();
        (await Send("b")).Dispose();
        (await Send(null)).Dispose();
        await Assert.ThrowsAsync<RateLimitRejectedException>(() => Send("a"));
        await Assert.ThrowsAsync<RateLimitRejectedException>(() => Send(null));
        Assert.That(server.Count, Is.EqualTo(3));
    }

    [Test]
    public void Partitioning_by_host_a_request_without_an_absolute_uri_fails_clearly()
    {
        using PartitionedRateLimiter<HttpRequestMessage> limiter = HttpRateLimiterPartitions.ByHost(_ => new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1 }));
        using var invoker = new HttpMessageInvoker(new RateLimitHandler(limiter) { InnerHandler = new SocketsHttpHandler() });
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/relative", UriKind.Relative));

        Assert.That(() => invoker.SendAsync(request, CancellationToken.None), Throws.InvalidOperationException.With.Message.Contains("absolute RequestUri"));
    }

    [Test]
    public async Task The_synchronous_Send_waits_for_a_permit_too()
    {
        FakeTimeProvider clock = Clients.FakeClock();
        await using TestServer server = TestServer.Start();
        using SlidingLogRateLimiter limiter = Clients.SlidingLog(1, Minute, queueLimit: 10, clock);
        using HttpClient http = Clients.Over(server, new RateLimitHandler(limiter));

        http.Send(new HttpRequestMessage(HttpMethod.Get, new Uri("/a", UriKind.Relative))).Dispose();
        Task second = Task.Run(() => http.Send(new HttpRequestMessage(HttpMethod.Get, new Uri("/b", UriKind.Relative))).Dispose());
        await Wait.UntilAsync(() => Clients.Queued(limiter) == 1, "the synchronous send waiting");
        Assert.That(server.Count, Is.EqualTo(1));

        clock.Advance(Minute);
        await second.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(server.Count, Is.EqualTo(2));
    }

    [Test]
    public void Null_arguments_are_refused_naming_them()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => new RateLimitHandler((RateLimiter)null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("limiter"));
            Assert.That(() => new RateLimitHandler((PartitionedRateLimiter<HttpRequestMessage>)null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("limiter"));
            Assert.That(() => HttpRateLimiterPartitions.ByHost(null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("limiterFactory"));
            Assert.That(() => HttpRateLimiterPartitions.ByKey<string>(null!, _ => null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("keySelector"));
            Assert.That(() => HttpRateLimiterPartitions.ByKey<string>(_ => "", null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("limiterFactory"));
        });
    }
}
