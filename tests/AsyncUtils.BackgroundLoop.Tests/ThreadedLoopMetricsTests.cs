using System.Collections.Concurrent;

namespace AsyncUtils.Tests;

public sealed class ThreadedLoopMetricsTests
{
    private const string Meter = "AsyncUtils.BackgroundLoop";
    private const string NameTag = "asyncutils.loop.name";
    private const string QueueDepth = "asyncutils.loop.queue.depth";
    private const string Outstanding = "asyncutils.loop.outstanding";
    private const string Faults = "asyncutils.loop.faults";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private static string UniqueName() => $"loop-{Guid.NewGuid():N}";

    [Test]
    public async Task Queue_depth_counts_work_not_yet_started_and_outstanding_counts_work_not_finished()
    {
        string name = UniqueName();
        using var capture = new MetricCapture(Meter, NameTag, name);
        await using var loop = new ThreadedLoop(new ThreadedLoopOptions { ThreadName = name });
        using var started = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        Task blocker = loop.Schedule(_ =>
        {
            started.Set();
            release.Wait(Bound, CancellationToken.None);
        });
        Assert.That(started.Wait(Bound), Is.True);
        var queued = new List<Task> { loop.Schedule(_ => { }), loop.Schedule(_ => 1), loop.Schedule(_ => Task.CompletedTask) };
        loop.Post(_ => { });

        Assert.That(capture.Observe(QueueDepth), Is.EqualTo(4), "four functions wait behind the blocked one");
        Assert.That(capture.Observe(Outstanding), Is.EqualTo(5));

        release.Set();
        Assert.That(await loop.WaitAllAsync(Bound, CancellationToken.None), Is.True);
        await Task.WhenAll([blocker, .. queued]).WaitAsync(Bound);
        Assert.That(capture.Observe(QueueDepth), Is.Zero);
        Assert.That(capture.Observe(Outstanding), Is.Zero);
    }

    [Test]
    public async Task Faults_count_each_exception_that_goes_to_UnhandledException_and_not_those_of_scheduled_work()
    {
        string name = UniqueName();
        using var capture = new MetricCapture(Meter, NameTag, name);
        await using var loop = new ThreadedLoop(new ThreadedLoopOptions { ThreadName = name });
        var reported = new ConcurrentQueue<Exception>();
        loop.UnhandledException += (_, e) => reported.Enqueue(e.Exception);

        loop.Post(_ => throw new FormatException("posted"));
        loop.Post(async _ => { await Task.Yield(); throw new FormatException("posted async"); });
        await loop.Schedule(_ => loop.Post(_ => throw new FormatException("posted from the loop"))).WaitAsync(Bound);
        Task scheduled = loop.Schedule(_ => throw new FormatException("scheduled: goes to its task"));
        await Assert.ThrowsAsync<FormatException>(() => scheduled.WaitAsync(Bound));
        Assert.That(await loop.WaitAllAsync(Bound, CancellationToken.None), Is.True);

        Assert.That(reported, Has.Count.EqualTo(3));
        Assert.That(capture.Events(Faults).Sum(m => m.Value), Is.EqualTo(3));
    }

    [Test]
    public async Task A_listener_that_throws_breaks_neither_the_loop_nor_fault_reporting()
    {
        string name = UniqueName();
        using var capture = new MetricCapture(Meter, NameTag, name, throwing: true);
        await using var loop = new ThreadedLoop(new ThreadedLoopOptions { ThreadName = name });
        var reported = new ConcurrentQueue<Exception>();
        loop.UnhandledException += (_, e) => reported.Enqueue(e.Exception);

        loop.Post(_ => throw new FormatException("posted"));
        Assert.That(await loop.Schedule(_ => 42).WaitAsync(Bound), Is.EqualTo(42));
        Assert.That(await loop.WaitAllAsync(Bound, CancellationToken.None), Is.True);

        Assert.That(reported.Single(), Is.InstanceOf<FormatException>(), "the fault still reaches the handler");
        Assert.That(capture.Seen, Is.EqualTo(1), "the listener saw (and threw on) the fault");
        Assert.That(loop.OutstandingCount, Is.Zero);
    }

    [Test]
    public async Task Without_a_listener_nothing_is_counted_per_item_and_a_later_listener_sees_only_the_outstanding_count()
    {
        string name = UniqueName();
        Assert.That(BackgroundLoopMetrics.QueueDepth.Enabled || BackgroundLoopMetrics.Faults.Enabled, Is.False, "no listener is subscribed");
        await using var loop = new ThreadedLoop(new ThreadedLoopOptions { ThreadName = name });
        loop.UnhandledException += (_, _) => { };
        using var started = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        Task blocker = loop.Schedule(_ =>
        {
            started.Set();
            release.Wait(Bound, CancellationToken.None);
        });
        Assert.That(started.Wait(Bound), Is.True);
        Task queued = loop.Schedule(_ => { });
        loop.Post(_ => throw new FormatException("unwatched"));

        using var capture = new MetricCapture(Meter, NameTag, name);
        Assert.That(capture.Observe(QueueDepth), Is.Zero, "work queued while nobody listened was not counted");
        Assert.That(capture.Observe(Outstanding), Is.EqualTo(3));

        release.Set();
        Assert.That(await loop.WaitAllAsync(Bound, CancellationToken.None), Is.True);
        await Task.WhenAll(blocker, queued).WaitAsync(Bound);
        Assert.That(capture.Observe(QueueDepth), Is.Zero, "and starting it did not take the count below zero");
        Assert.That(capture.Events(Faults).Sum(m => m.Value), Is.EqualTo(1), "the fault happened after the listener came");
    }
}
