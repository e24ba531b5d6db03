using System.Net;
using System.Threading.RateLimiting;

namespace AsyncUtils.Http.Tests;

public sealed class StressTests
{
    [Test]
    public async Task Under_random_cancellations_and_lockouts_every_permit_comes_back_and_the_limits_hold()
    {
        const int Requests = 200;
        var random = new Random(20261129);
        await using TestServer server = TestServer.Start();
        server.Respond = async _ =>
        {
            await Task.Delay(1);
            return TestReply.Ok;
        };
        var semaphore = new PrioritySemaphore(3);
        using var limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 2, QueueLimit = Requests });
        var lockout = new Lockout();
        using HttpClient http = Clients.Over(server, new PriorityConcurrencyHandler(semaphore), new RateLimitHandler(limiter), new LockoutHandler(lockout));

        var sends = new List<Task<HttpStatusCode?>>();
        var sources = new List<CancellationTokenSource>();
        for (int i = 0; i < Requests; i++)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"/{i}", UriKind.Relative));
            request.Options.Set(PriorityConcurrencyHandler.PriorityKey, random.Next(-3, 4));
            var cts = new CancellationTokenSource();
            sources.Add(cts);
            if (random.Next(3) == 0)
            {
                cts.CancelAfter(TimeSpan.FromMilliseconds(random.Next(0, 30)));
            }

            if (i % 40 == 0)
            {
                lockout.LockFor(TimeSpan.FromMilliseconds(20));
            }

            sends.Add(SendAsync(http, request, cts.Token));
        }

        HttpStatusCode?[] results = await Task.WhenAll(sends).WaitAsync(TimeSpan.FromSeconds(30));
        foreach (CancellationTokenSource cts in sources)
        {
            cts.Dispose();
        }

        Assert.That(results, Has.Some.EqualTo(HttpStatusCode.OK).And.Some.Null, "some requests went through, some were cancelled");
        Assert.That(results.Where(r => r is not null), Is.All.EqualTo(HttpStatusCode.OK));
        Assert.That(server.MaxInFlight, Is.LessThanOrEqualTo(2), "the concurrency limiter bounds the requests on the wire");
        Assert.That((semaphore.CurrentCount, semaphore.WaitingCount), Is.EqualTo((3, 0)), "every semaphore permit back, no waiter left");
        Assert.That((Clients.Available(limiter), Clients.Queued(limiter)), Is.EqualTo((2L, 0L)), "every lease back, nobody queued");
        Assert.That(lockout.WaitingCount, Is.Zero);
    }

    private static async Task<HttpStatusCode?> SendAsync(HttpClient http, HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using (request)
        {
            try
            {
                using HttpResponseMessage response = await http.SendAsync(request, cancellationToken);
                return response.StatusCode;
            }
            catch (OperationCanceledException)
            {
                return null;
            }
        }
    }
}
