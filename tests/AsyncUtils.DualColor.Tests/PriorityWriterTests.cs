namespace AsyncUtils.Tests;

/// <summary>The priority queue's channel writer: (element, priority) pairs, waiting for room without putting.</summary>
public sealed class PriorityWriterTests
{
    [Test]
    public async Task Writer_puts_pairs_that_come_out_smallest_priority_first()
    {
        var queue = new DualPriorityQueue<string, int>();
        Assert.That(queue.Writer.TryWrite(("later", 2)), Is.True);
        await queue.Writer.WriteAsync(("sooner", 1));

        Assert.That(await queue.Reader.ReadAsync(), Is.EqualTo("sooner"));
        Assert.That(await queue.Reader.ReadAsync(), Is.EqualTo("later"));
    }

    [Test]
    public async Task WaitToWriteAsync_on_a_full_queue_waits_for_room_without_putting()
    {
        var queue = new DualPriorityQueue<string, int>(new DualPriorityQueueOptions<string, int> { Capacity = 1 });
        Assert.That(queue.Writer.TryWrite(("a", 1)), Is.True);
        Assert.That(queue.Writer.TryWrite(("b", 1)), Is.False);

        ValueTask<bool> wait = queue.Writer.WaitToWriteAsync();
        Assert.That(wait.IsCompleted, Is.False);
        Assert.That(queue.TryTake(out string? taken), Is.True);
        Assert.That(taken, Is.EqualTo("a"));

        Assert.That(await wait.AsTask().WaitAsync(TimeSpan.FromSeconds(10)), Is.True);
        Assert.That(queue.Count, Is.Zero, "waiting for room put nothing");
    }

    [Test]
    public async Task Completing_through_the_writer_completes_the_queue()
    {
        var queue = new DualPriorityQueue<string, int>();
        Assert.That(queue.Writer.TryComplete(), Is.True);
        Assert.That(queue.Writer.TryWrite(("x", 0)), Is.False);
        Assert.That(await queue.Writer.WaitToWriteAsync(), Is.False);
        await queue.Completion.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
