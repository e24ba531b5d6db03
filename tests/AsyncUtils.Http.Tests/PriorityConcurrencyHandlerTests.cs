using System.Net;

namespace AsyncUtils.Http.Tests;

public sealed class PriorityConcurrencyHandlerTests
{
    private static HttpRequestMessage Get(string path, int? priority = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
        if (priority is int p)
        {
            request.Options.Set(PriorityConcurrencyHandler.PriorityKey, p);
        }

        return request;
    }

    [Test]
    public async Task Waiting_requests_are_sent_lowest_priority_number_first_then_in_arrival_order()
    {
        await using TestServer server = TestServer.Start();
        var release = new TaskCompletionSource<TestReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Respond = r => r.Path == "/first" ? release.Task : Task.FromResult(TestReply.Ok);
        var semaphore = new PrioritySemaphore(1);
        using HttpClient http = Clients.Over(server, new PriorityConcurrencyHandler(semaphore));

        var sends = new List<Task<HttpResponseMessage>> { http.SendAsync(Get("/first", 0)) };
        await Wait.UntilAsync(() => server.Count == 1, "the first request on the wire");
        foreach ((string path, int? priority) in new (string, int?)[] { ("/p5", 5), ("/p1", 1), ("/p3-first", 3), ("/ambient0", null), ("/p3-second", 3), ("/urgent", -1) })
        {
            int waiting = semaphore.WaitingCount;
            sends.Add(http.SendAsync(Get(path, priority)));
            await Wait.UntilAsync(() => semaphore.WaitingCount == waiting + 1, $"{path} queued");
        }

        Assert.That(server.Count, Is.EqualTo(1));
        release.SetResult(TestReply.Ok);
        foreach (HttpResponseMessage response in await Task.WhenAll(sends).WaitAsync(TimeSpan.FromSeconds(10)))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            response.Dispose();
        }

        Assert.That(server.Requests.Select(r => r.Path), Is.EqualTo(new[] { "/first", "/urgent", "/ambient0", "/p1", "/p3-first", "/p3-second", "/p5" }));
        Assert.That(server.MaxInFlight, Is.EqualTo(1));
        Assert.That(semaphore.CurrentCount, Is.EqualTo(1), "every permit returned");
    }

    [Test]
    public async Task Without_the_option_a_request_has_the_ambient_priority_of_the_flow_that_sends_it()
    {
        await using TestServer server = TestServer.Start();
        var release = new TaskCompletionSource<TestReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Respond = r => r.Path == "/first" ? release.Task : Task.FromResult(TestReply.Ok);
        var semaphore = new PrioritySemaphore(1);
        using HttpClient http = Clients.Over(server, new PriorityConcurrencyHandler(semaphore));

        Task<HttpResponseMessage> first = http.SendAsync(Get("/first"));
        await Wait.UntilAsync(() => server.Count == 1, "the first request on the wire");
        Task<HttpResponseMessage> normal = http.SendAsync(Get("/normal"));
        await Wait.UntilAsync(() => semaphore.WaitingCount == 1, "the normal request queued");
        Task<HttpResponseMessage> urgent;
        using (PriorityContext.Enter(-5))
        {
            urgent = http.SendAsync(Get("/urgent"));
        }

        await Wait.UntilAsync(() => semaphore.WaitingCount == 2, "the urgent request queued");
        release.SetResult(TestReply.Ok);
        await Task.WhenAll(first, normal, urgent).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.That(server.Requests.Select(r => r.Path), Is.EqualTo(new[] { "/first", "/urgent", "/normal" }));
    }

    [Test]
    public async Task At_most_the_semaphore_count_of_requests_are_in_flight_and_a_cancelled_wait_takes_no_permit()
    {
        await using TestServer server = TestServer.Start();
        var release = new TaskCompletionSource<TestReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Respond = _ => release.Task;
        var semaphore = new PrioritySemaphore(2);
        using HttpClient http = Clients.Over(server, new PriorityConcurrencyHandler(semaphore));
        using var cts = new CancellationTokenSource();

        Task<HttpResponseMessage>[] sends = [.. Enumerable.Range(0, 5).Select(i => http.SendAsync(Get($"/{i}")))];
        await Wait.UntilAsync(() => server.Count == 2 && semaphore.WaitingCount == 3, "2 on the wire, 3 queued");
        Task<HttpResponseMessage> cancelled = http.SendAsync(Get("/cancelled"), cts.Token);
        await Wait.UntilAsync(() => semaphore.WaitingCount == 4, "the cancellable request queued");
        await cts.CancelAsync();
        await Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), () => cancelled);
        Assert.That(semaphore.WaitingCount, Is.EqualTo(3));

        release.SetResult(TestReply.Ok);
        await Task.WhenAll(sends).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(server.MaxInFlight, Is.EqualTo(2));
        Assert.That(server.Count, Is.EqualTo(5), "the cancelled request was never sent");
        Assert.That(semaphore.CurrentCount, Is.EqualTo(2), "every permit returned");
    }
}
