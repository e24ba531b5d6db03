using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class PayloadSchedulerMetricsTests
{
    private const string Meter = "AsyncUtils.Scheduler";
    private const string NameTag = "asyncutils.scheduler.name";
    private const string Pending = "asyncutils.scheduler.pending";
    private const string Lateness = "asyncutils.scheduler.lateness";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private static string UniqueName() => $"scheduler-{Guid.NewGuid():N}";

    [Test]
    public async Task Pending_counts_payloads_until_they_are_delivered_or_cancelled_under_the_schedulers_name()
    {
        string name = UniqueName();
        using var capture = new MetricCapture(Meter, NameTag, name);
        using var scheduler = new PayloadScheduler<string>(_time, name);
        Assert.That(scheduler.Name, Is.EqualTo(name));
        Assert.That(capture.Observe(Pending), Is.Zero);

        ScheduledPayload<string> a = scheduler.Schedule(TimeSpan.FromSeconds(1), "a");
        scheduler.Schedule(TimeSpan.FromSeconds(2), "b");
        scheduler.Schedule(TimeSpan.FromSeconds(3), "c");
        Assert.That(capture.Observe(Pending), Is.EqualTo(3));

        a.Cancel();
        Assert.That(capture.Observe(Pending), Is.EqualTo(2));

        _time.Advance(TimeSpan.FromSeconds(2));
        await using IAsyncEnumerator<string> consumer = scheduler.GetAsyncEnumerator();
        Assert.That(await consumer.MoveNextAsync().AsTask().WaitAsync(Bound), Is.True);
        Assert.That(capture.Observe(Pending), Is.EqualTo(1));

        scheduler.Dispose();
        Assert.That(capture.Observe(Pending), Is.Zero, "disposal cancels what was pending");
    }

    [Test]
    public async Task Lateness_is_how_long_after_its_due_time_each_payload_reached_a_consumer()
    {
        string name = UniqueName();
        using var capture = new MetricCapture(Meter, NameTag, name);
        using var scheduler = new PayloadScheduler<string>(_time, name);
        scheduler.Schedule(TimeSpan.FromSeconds(5), "on time");
        scheduler.Schedule(TimeSpan.FromSeconds(5), "taken 2 s late");
        await using IAsyncEnumerator<string> first = scheduler.GetAsyncEnumerator();
        await using IAsyncEnumerator<string> second = scheduler.GetAsyncEnumerator();

        // A waiting consumer gets the payload when the timer fires at its due time: 0 s late.
        Task<bool> next = first.MoveNextAsync().AsTask();
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.That(await next.WaitAsync(Bound), Is.True);

        // Due, but no consumer asked for 2 s: it is handed over 2 s late.
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.That(await first.MoveNextAsync().AsTask().WaitAsync(Bound), Is.True);
        Assert.That(first.Current, Is.EqualTo("taken 2 s late"));

        // Scheduled in the past while a consumer waits: delivered at once, 3 s late.
        next = first.MoveNextAsync().AsTask();
        scheduler.Schedule(_time.GetUtcNow().AddSeconds(-3), "scheduled 3 s in the past");
        Assert.That(await next.WaitAsync(Bound), Is.True);

        // Two consumers waiting, two payloads due at once, the clock jumping 1.5 s past them:
        // one timer firing hands both over, each 0.5 s late.
        scheduler.Schedule(TimeSpan.FromSeconds(1), "d");
        scheduler.Schedule(TimeSpan.FromSeconds(1), "e");
        Task<bool> one = first.MoveNextAsync().AsTask();
        Task<bool> two = second.MoveNextAsync().AsTask();
        _time.Advance(TimeSpan.FromSeconds(1.5));
        Assert.That(await Task.WhenAll(one, two).WaitAsync(Bound), Is.EqualTo(new[] { true, true }));

        Assert.That(capture.Events(Lateness).Select(m => m.Value), Is.EqualTo(new[] { 0.0, 2.0, 3.0, 0.5, 0.5 }));
        Assert.That(capture.Observe(Pending), Is.Zero);
    }

    [Test]
    public async Task A_listener_that_throws_loses_no_payload_and_breaks_nothing()
    {
        string name = UniqueName();
        using var capture = new MetricCapture(Meter, NameTag, name, throwing: true);
        using var scheduler = new PayloadScheduler<int>(_time, name);
        for (int i = 0; i < 4; i++)
        {
            scheduler.Schedule(TimeSpan.FromSeconds(1), i);
        }

        await using IAsyncEnumerator<int> waiting = scheduler.GetAsyncEnumerator();
        await using IAsyncEnumerator<int> other = scheduler.GetAsyncEnumerator();
        Task<bool> one = waiting.MoveNextAsync().AsTask();
        Task<bool> two = other.MoveNextAsync().AsTask();
        _time.Advance(TimeSpan.FromSeconds(1)); // the timer path, two at once
        Assert.That(await Task.WhenAll(one, two).WaitAsync(Bound), Is.EqualTo(new[] { true, true }));
        var seen = new List<int> { waiting.Current, other.Current };
        scheduler.Complete();
        while (await waiting.MoveNextAsync().AsTask().WaitAsync(Bound)) // the direct path
        {
            seen.Add(waiting.Current);
        }

        Assert.That(seen.Order(), Is.EqualTo(new[] { 0, 1, 2, 3 }));
        Assert.That(scheduler.Count, Is.Zero);
        Assert.That(capture.Seen, Is.EqualTo(4), "the listener saw (and threw on) every lateness");
    }

    [Test]
    public async Task Without_a_listener_nothing_is_recorded_and_a_later_listener_sees_only_the_pending_count()
    {
        string name = UniqueName();
        using var scheduler = new PayloadScheduler<int>(_time, name);
        Assert.That(SchedulerMetrics.Lateness.Enabled, Is.False, "no listener is subscribed");
        scheduler.Schedule(TimeSpan.Zero, 1);
        scheduler.Schedule(TimeSpan.FromSeconds(1), 2);
        await using IAsyncEnumerator<int> consumer = scheduler.GetAsyncEnumerator();
        Assert.That(await consumer.MoveNextAsync().AsTask().WaitAsync(Bound), Is.True);
        Assert.That(consumer.Current, Is.EqualTo(1));

        using var capture = new MetricCapture(Meter, NameTag, name);
        Assert.That(capture.Events(Lateness), Is.Empty);
        Assert.That(capture.Observe(Pending), Is.EqualTo(1));
    }
}
