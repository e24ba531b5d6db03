using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class QueueMetricsTests
{
    private const string Meter = "AsyncUtils.DualColor";
    private const string NameTag = "asyncutils.queue.name";
    private const string Depth = "asyncutils.queue.depth";
    private const string Waiters = "asyncutils.queue.waiters";
    private const string WaitDuration = "asyncutils.queue.wait.duration";
    private const string Operation = "asyncutils.queue.operation";

    private static string UniqueName() => $"queue-{Guid.NewGuid():N}";

    private static (string? Operation, string? Result, double Seconds)[] Waits(MetricCapture capture) =>
        [.. capture.Events(WaitDuration).Select(m => ((string?)m.Tag(Operation), (string?)m.Tag("asyncutils.queue.result"), m.Value))];

    [Test]
    public async Task Depth_and_waiters_are_observed_per_queue_under_its_name()
    {
        string name = UniqueName();
        using var capture = new MetricCapture(Meter, NameTag, name);
        var queue = new DualQueue<int>(new DualQueueOptions<int> { Capacity = 2, Name = name });
        Assert.That(capture.Observe(Depth), Is.Zero);

        queue.TryPut(1);
        queue.TryPut(2);
        Task put = queue.PutAsync(3).AsTask();
        Assert.That(capture.Observe(Depth), Is.EqualTo(2));
        Assert.That((capture.Observe(Waiters, Operation, "put"), capture.Observe(Waiters, Operation, "take")), Is.EqualTo(((long?)1, (long?)0)));

        Assert.That(queue.TryTake(out int first) && first == 1, Is.True);
        await put.Bounded();
        Assert.That(capture.Observe(Depth), Is.EqualTo(2), "the waiting putter's item went in");
        Assert.That(capture.Observe(Waiters, Operation, "put"), Is.Zero);

        queue.TryTake(out _);
        queue.TryTake(out _);
        ValueTask<int> take = queue.TakeAsync();
        Assert.That(capture.Observe(Depth), Is.Zero);
        Assert.That(capture.Observe(Waiters, Operation, "take"), Is.EqualTo(1));
        queue.TryPut(4);
        Assert.That(await take.Bounded(), Is.EqualTo(4));
        Assert.That(capture.Observe(Waiters, Operation, "take"), Is.Zero);

        string stackName = UniqueName();
        using var stackCapture = new MetricCapture(Meter, NameTag, stackName);
        var stack = new DualStack<int>(new DualQueueOptions<int> { Name = stackName });
        stack.TryPut(1);
        Assert.That(stackCapture.Observe(Depth), Is.EqualTo(1));

        string priorityName = UniqueName();
        using var priorityCapture = new MetricCapture(Meter, NameTag, priorityName);
        var priority = new DualPriorityQueue<string, int>(new DualPriorityQueueOptions<string, int> { Name = priorityName });
        priority.TryPut("a", 2);
        priority.TryPut("b", 1);
        Assert.That(priorityCapture.Observe(Depth), Is.EqualTo(2));
        GC.KeepAlive(stack);
        GC.KeepAlive(priority);
    }

    [Test]
    public async Task Wait_duration_is_recorded_for_each_put_or_take_that_waited_with_its_outcome()
    {
        string name = UniqueName();
        using var capture = new MetricCapture(Meter, NameTag, name);
        var clock = new FakeTimeProvider();
        var queue = new DualQueue<int>(new DualQueueOptions<int> { Capacity = 1, Name = name, TimeProvider = clock });

        // Served at once: nothing recorded.
        Assert.That(queue.TryPut(0), Is.True);
        Assert.That(queue.Take(), Is.EqualTo(0));

        ValueTask<int> take = queue.TakeAsync();
        clock.Advance(TimeSpan.FromSeconds(3));
        queue.TryPut(1);
        Assert.That(await take.Bounded(), Is.EqualTo(1));

        queue.TryPut(2);
        ValueTask put = queue.PutAsync(3);
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.That(queue.TryTake(out int two) && two == 2, Is.True);
        await put.Bounded();

        Task<int> blockedPut = TestHelpers.OnThread(() =>
        {
            queue.Put(4);
            return 0;
        });
        TestHelpers.WaitUntil(() => queue.WaitingPutters == 1, "the putter blocks");
        clock.Advance(TimeSpan.FromSeconds(4));
        Assert.That(queue.TryTake(out int three) && three == 3, Is.True);
        await blockedPut.Bounded();
        Assert.That(queue.TryTake(out int four) && four == 4, Is.True);

        Task<bool> timedOut = TestHelpers.OnThread(() => queue.TryTake(out _, TimeSpan.FromSeconds(5)));
        TestHelpers.WaitUntil(() => queue.WaitingTakers == 1, "the taker blocks");
        clock.Advance(TimeSpan.FromSeconds(5));
        Assert.That(await timedOut.Bounded(), Is.False);

        using var cts = new CancellationTokenSource();
        ValueTask<int> cancelled = queue.TakeAsync(cts.Token);
        clock.Advance(TimeSpan.FromSeconds(1));
        await cts.CancelAsync();
        await Assert.CatchAsync<OperationCanceledException>(async () => await cancelled.Bounded());

        ValueTask<int> ended = queue.TakeAsync();
        clock.Advance(TimeSpan.FromSeconds(0.5));
        queue.Complete();
        await Assert.ThrowsAsync<QueueCompletedException>(async () => await ended.Bounded());

        Assert.That(Waits(capture), Is.EqualTo(new (string?, string?, double)[]
        {
            ("take", "granted", 3),
            ("put", "granted", 2),
            ("put", "granted", 4),
            ("take", "timed_out", 5),
            ("take", "canceled", 1),
            ("take", "completed", 0.5),
        }));
    }

    [Test]
    public async Task A_listener_that_throws_loses_no_item_and_breaks_no_wait()
    {
        string name = UniqueName();
        using var capture = new MetricCapture(Meter, NameTag, name, throwing: true);
        var queue = new DualPriorityQueue<string, int>(new DualPriorityQueueOptions<string, int> { Capacity = 1, Name = name });

        ValueTask<string> take = queue.TakeAsync();
        queue.TryPut("a", 1);
        Assert.That(await take.Bounded(), Is.EqualTo("a"));

        queue.TryPut("b", 1);
        ValueTask put = queue.PutAsync("c", 0);
        Assert.That(queue.Take(), Is.EqualTo("b"));
        await put.Bounded();

        Task<string> blocked = TestHelpers.OnThread(() => queue.Take());
        Assert.That(await blocked.Bounded(), Is.EqualTo("c"));
        Task<string> blockedAgain = TestHelpers.OnThread(() => queue.Take());
        TestHelpers.WaitUntil(() => queue.WaitingTakers == 1, "the taker blocks");
        queue.TryPut("d", 1);
        Assert.That(await blockedAgain.Bounded(), Is.EqualTo("d"));

        Assert.That((queue.Count, queue.WaitingPutters, queue.WaitingTakers), Is.EqualTo((0, 0, 0)));
        Assert.That(capture.Seen, Is.EqualTo(3), "the listener saw (and threw on) every wait");
    }

    [Test]
    public async Task Without_a_listener_a_wait_reads_no_clock_and_records_nothing()
    {
        string name = UniqueName();
        Assert.That(DualColorMetrics.WaitDuration.Enabled, Is.False, "no listener is subscribed");
        var clock = new TimestampCountingClock();
        var queue = new DualQueue<int>(new DualQueueOptions<int> { Capacity = 1, Name = name, TimeProvider = clock });

        await WaitOnceEachWay(queue);
        Assert.That(clock.Timestamps, Is.Zero, "no wait was timed");

        using (var capture = new MetricCapture(Meter, NameTag, name))
        {
            Assert.That(capture.Events(WaitDuration), Is.Empty);
            await WaitOnceEachWay(queue);
            Assert.That(clock.Timestamps, Is.EqualTo(4), "with a listener, both waits are timed (a read at each end)");
            Assert.That(capture.Events(WaitDuration), Has.Count.EqualTo(2));
        }

        static async Task WaitOnceEachWay(DualQueue<int> queue)
        {
            ValueTask<int> take = queue.TakeAsync();
            queue.TryPut(1);
            Assert.That(await take.Bounded(), Is.EqualTo(1));
            queue.TryPut(2);
            ValueTask put = queue.PutAsync(3);
            queue.TryTake(out _);
            await put.Bounded();
            queue.TryTake(out _);
        }
    }

    private sealed class TimestampCountingClock : FakeTimeProvider
    {
        private int _timestamps;

        public int Timestamps => Volatile.Read(ref _timestamps);

        public override long GetTimestamp()
        {
            Interlocked.Increment(ref _timestamps);
            return base.GetTimestamp();
        }
    }
}
