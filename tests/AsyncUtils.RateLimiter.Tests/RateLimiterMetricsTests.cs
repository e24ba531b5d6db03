using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class RateLimiterMetricsTests
{
    private const string Meter = "AsyncUtils.RateLimiter";
    private const string NameTag = "asyncutils.rate_limiter.name";
    private const string ResultTag = "asyncutils.rate_limiter.result";

    [Test]
    public async Task Leases_queue_length_and_wait_durations_are_published_with_the_limiters_name()
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        var time = new FakeTimeProvider();
        using var limiter = Limiter(time, name, queueLimit: 2);
        using var cts = new CancellationTokenSource();

        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.False);
        Task<RateLimitLease> first = limiter.AcquireAsync(1).AsTask();
        Task<RateLimitLease> second = limiter.AcquireAsync(1, cts.Token).AsTask();
        Assert.That((await limiter.AcquireAsync(1)).IsAcquired, Is.False, "the queue is full");
        Assert.That(MetricsRecorder.Single(recorder.Observe(), "asyncutils.rate_limiter.queue.length"), Is.EqualTo(2));

        time.Advance(TimeSpan.FromMilliseconds(250));
        await cts.CancelAsync();
        Assert.That(async () => await second, Throws.InstanceOf<OperationCanceledException>());
        time.Advance(TimeSpan.FromMilliseconds(750));
        using RateLimitLease granted = await first.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(granted.IsAcquired, Is.True);

        IReadOnlyList<MetricsRecorder.Recorded> observed = recorder.Observe();
        Assert.Multiple(() =>
        {
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.rate_limiter.leases", (ResultTag, "granted")), Is.EqualTo(2));
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.rate_limiter.leases", (ResultTag, "rejected")), Is.EqualTo(2));
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.rate_limiter.queue.length"), Is.Zero);
            Assert.That(observed, Has.Count.EqualTo(3));
            Assert.That(
                recorder.Events.Select(e => (e.Instrument, e.Value, e.Tag(ResultTag))),
                Is.EquivalentTo(new[]
                {
                    ("asyncutils.rate_limiter.wait.duration", 0.25, (object?)"canceled"),
                    ("asyncutils.rate_limiter.wait.duration", 1.0, (object?)"granted"),
                }));
        });
    }

    [Test]
    public async Task A_queued_request_refused_by_dispose_records_its_wait_as_rejected()
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        var time = new FakeTimeProvider();
        var limiter = Limiter(time, name, queueLimit: 1);
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
        ValueTask<RateLimitLease> waiting = limiter.AcquireAsync(1);

        time.Advance(TimeSpan.FromMilliseconds(400));
        limiter.Dispose();

        Assert.That((await waiting).IsAcquired, Is.False);
        Assert.Multiple(() =>
        {
            Assert.That(recorder.Events.Select(e => (e.Value, e.Tag(ResultTag))), Is.EqualTo(new[] { (0.4, (object?)"rejected") }));
            Assert.That(recorder.Observe(), Is.Empty, "a disposed limiter is not observed");
        });
    }

    [Test]
    public async Task A_listener_that_throws_does_not_lose_the_grant_nor_break_the_limiter()
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name) { OnRecorded = _ => throw new InvalidOperationException("observer") };
        var time = new FakeTimeProvider();
        using var limiter = Limiter(time, name, queueLimit: 1);
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
        Task<RateLimitLease> waiting = limiter.AcquireAsync(1).AsTask();

        time.Advance(TimeSpan.FromSeconds(1));
        using RateLimitLease lease = await waiting.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Multiple(() =>
        {
            Assert.That(lease.IsAcquired, Is.True);
            Assert.That(limiter.GetStatistics()!.TotalSuccessfulLeases, Is.EqualTo(2));
            Assert.That(limiter.AttemptAcquire().IsAcquired, Is.False, "the queued grant took the permit");
        });
    }

    [Test]
    public async Task A_limiter_used_before_any_listener_works_and_records_no_wait()
    {
        string name = UniqueName();
        var time = new FakeTimeProvider();
        using var limiter = Limiter(time, name, queueLimit: 1);
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
        Task<RateLimitLease> waiting = limiter.AcquireAsync(1).AsTask();
        time.Advance(TimeSpan.FromSeconds(1));
        using RateLimitLease lease = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(lease.IsAcquired, Is.True);

        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        Assert.Multiple(() =>
        {
            Assert.That(MetricsRecorder.Single(recorder.Observe(), "asyncutils.rate_limiter.leases", (ResultTag, "granted")), Is.EqualTo(2));
            Assert.That(recorder.Events, Is.Empty);
        });
    }

    [Test]
    public void A_collected_limiter_disappears_from_the_measurements()
    {
        string name = UniqueName();
        using var recorder = new MetricsRecorder(Meter, NameTag, name);
        CreateObservedAndDrop(recorder, name);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Assert.That(recorder.Observe(), Is.Empty);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void CreateObservedAndDrop(MetricsRecorder recorder, string name)
    {
        var limiter = Limiter(new FakeTimeProvider(), name, queueLimit: 0);
        Assert.That(MetricsRecorder.Single(recorder.Observe(), "asyncutils.rate_limiter.queue.length"), Is.Zero);
        GC.KeepAlive(limiter);
    }

    private static SlidingLogRateLimiter Limiter(FakeTimeProvider time, string name, int queueLimit) => new(new SlidingLogRateLimiterOptions
    {
        Windows = { new(1, TimeSpan.FromSeconds(1)) },
        QueueLimit = queueLimit,
        TimeProvider = time,
        Name = name,
    });

    private static string UniqueName() => $"limiter-test-{Guid.NewGuid():N}";
}
