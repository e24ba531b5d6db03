using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class WaterfallQueueMetricsTests
{
    private const string Meter = "AsyncUtils.Waterfall";
    private const string NameTag = "asyncutils.waterfall.name";
    private const string QueueDepth = "asyncutils.waterfall.queue.depth";
    private const string Items = "asyncutils.waterfall.items";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private static string UniqueName() => $"waterfall-{Guid.NewGuid():N}";

    [Test]
    public async Task Queue_depth_counts_items_put_and_not_yet_handed_to_the_callback_and_items_count_those_handed_over()
    {
        string name = UniqueName();
        using var capture = new MetricCapture(Meter, NameTag, name);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var waterfall = new Waterfall<int>(
            async (batch, _) =>
            {
                if (batch[0] == 0)
                {
                    entered.SetResult();
                    await release.Task;
                }
            },
            new WaterfallOptions { MaxBatchSize = 3, MaxConcurrentBatches = 1, TimeProvider = new FakeTimeProvider(), Name = name });
        Assert.That(capture.Observe(QueueDepth), Is.Zero, "before Start");
        waterfall.Start();

        for (int i = 0; i < 3; i++)
        {
            waterfall.Put(i);
        }

        await entered.Task.WaitAsync(Bound);
        Assert.That(capture.Observe(QueueDepth), Is.Zero, "the first batch is in the callback");

        for (int i = 3; i < 6; i++)
        {
            waterfall.Put(i); // a full batch, waiting for the one callback slot
        }

        waterfall.Put(6);
        waterfall.Put(7); // being collected
        Assert.That(capture.Observe(QueueDepth), Is.EqualTo(5));

        release.SetResult();
        await waterfall.StopAsync().WaitAsync(Bound);
        Assert.That(capture.Observe(QueueDepth), Is.Zero);
        Assert.That(
            capture.Events(Items).Select(m => ((long)m.Value, (string?)m.Tag("asyncutils.waterfall.flush_reason"))),
            Is.EquivalentTo(new[] { (3L, "count"), (3L, "count"), (2L, "stop") }));
    }

    [Test]
    public async Task Without_a_listener_nothing_is_recorded_and_a_later_listener_sees_the_current_depth()
    {
        string name = UniqueName();
        Assert.That(WaterfallMetrics.Items.Enabled || WaterfallMetrics.Batches.Enabled, Is.False, "no listener is subscribed");
        var time = new FakeTimeProvider();
        var delivered = 0;
        var waterfall = new Waterfall<int>(
            (batch, _) =>
            {
                Interlocked.Add(ref delivered, batch.Count);
                return ValueTask.CompletedTask;
            },
            new WaterfallOptions { MaxBatchSize = 10, MaxWait = TimeSpan.FromSeconds(1), TimeProvider = time, Name = name });
        waterfall.Start();
        for (int i = 0; i < 4; i++)
        {
            waterfall.Put(i);
        }

        using var capture = new MetricCapture(Meter, NameTag, name);
        Assert.That(capture.Observe(QueueDepth), Is.EqualTo(4), "being collected");
        await waterfall.StopAsync().WaitAsync(Bound);
        Assert.That(delivered, Is.EqualTo(4));
        Assert.That(capture.Observe(QueueDepth), Is.Zero);
        Assert.That(capture.Events(Items).Sum(m => m.Value), Is.EqualTo(4), "the stop's batch was handed over after the listener came");
    }
}
