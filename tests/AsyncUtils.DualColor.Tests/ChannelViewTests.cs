using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace AsyncUtils.Tests;

public sealed class ChannelViewTests
{
    [Test]
    public async Task The_writer_and_reader_views_move_items_through_the_queue()
    {
        var q = new DualQueue<int>(capacity: 8);
        ChannelWriter<int> writer = q.Writer;
        ChannelReader<int> reader = q.Reader;
        Assert.That(q.Writer, Is.SameAs(writer));
        Assert.That(q.Reader, Is.SameAs(reader));

        Assert.That(writer.TryWrite(1), Is.True);
        await writer.WriteAsync(2);
        q.Put(3);
        Assert.That(reader.CanCount, Is.True);
        Assert.That(reader.Count, Is.EqualTo(3));
        Assert.That(reader.TryRead(out int a), Is.True);
        Assert.That(await reader.ReadAsync(), Is.EqualTo(2));
        Assert.That(q.Take(), Is.EqualTo(3));
        Assert.That(a, Is.EqualTo(1));
    }

    [Test]
    public async Task WaitToReadAsync_waits_for_an_item_without_taking_it_and_ends_false_on_completion()
    {
        var q = new DualQueue<int>();
        ValueTask<bool> wait = q.Reader.WaitToReadAsync();
        Assert.That(wait.IsCompleted, Is.False);
        Assert.That(q.WaitingTakers, Is.Zero, "a wait-to-read is not a taker");
        q.Put(1);
        Assert.That(await wait.Bounded(), Is.True);
        Assert.That(q.Count, Is.EqualTo(1), "the item stays in the queue");
        Assert.That(await q.Reader.WaitToReadAsync().Bounded(), Is.True);
        q.Take();

        ValueTask<bool> last = q.Reader.WaitToReadAsync();
        q.Complete();
        Assert.That(await last.Bounded(), Is.False);
        Assert.That(await q.Reader.WaitToReadAsync().Bounded(), Is.False);
        await q.Reader.Completion.Bounded();
    }

    [Test]
    public async Task A_put_goes_to_a_waiting_taker_and_does_not_wake_a_wait_to_read()
    {
        var q = new DualQueue<int>();
        ValueTask<int> taker = q.TakeAsync();
        ValueTask<bool> wait = q.Reader.WaitToReadAsync();
        q.Put(1);
        Assert.That(await taker.Bounded(), Is.EqualTo(1));
        Assert.That(wait.IsCompleted, Is.False);
        q.Put(2);
        Assert.That(await wait.Bounded(), Is.True);
    }

    [Test]
    public async Task WaitToWriteAsync_waits_for_room_without_putting()
    {
        var q = new DualQueue<int>(capacity: 1);
        Assert.That(await q.Writer.WaitToWriteAsync().Bounded(), Is.True);
        q.Put(1);
        ValueTask<bool> wait = q.Writer.WaitToWriteAsync();
        Assert.That(wait.IsCompleted, Is.False);
        Assert.That(q.WaitingPutters, Is.Zero, "a wait-to-write is not a putter");
        q.Take();
        Assert.That(await wait.Bounded(), Is.True);
        Assert.That(q.Count, Is.Zero);

        q.Put(2);
        ValueTask<bool> last = q.Writer.WaitToWriteAsync();
        q.Writer.Complete();
        Assert.That(await last.Bounded(), Is.False);
        Assert.That(q.IsCompleted, Is.True);
    }

    [Test]
    public async Task Room_freed_while_a_putter_waits_goes_to_the_putter_not_to_a_wait_to_write()
    {
        var q = new DualQueue<int>(capacity: 1);
        q.Put(1);
        ValueTask put = q.PutAsync(2);
        ValueTask<bool> wait = q.Writer.WaitToWriteAsync();
        q.Take();
        await put.Bounded();
        Assert.That(wait.IsCompleted, Is.False);
        q.Take();
        Assert.That(await wait.Bounded(), Is.True);
    }

    [Test]
    public async Task A_closed_reader_throws_a_channel_closed_exception_and_its_wait_carries_the_error()
    {
        var q = new DualQueue<int>();
        var error = new IOException("broken");
        q.Writer.Complete(error);
        Assert.That(q.Writer.TryComplete(), Is.False);
        Assert.That(async () => await q.Reader.ReadAsync(), Throws.InstanceOf<ChannelClosedException>().With.InnerException.SameAs(error));
        Assert.That(async () => await q.Reader.WaitToReadAsync(), Throws.InstanceOf<ChannelClosedException>().With.InnerException.SameAs(error));
        Assert.That(async () => await q.Writer.WaitToWriteAsync(), Throws.InstanceOf<ChannelClosedException>().With.InnerException.SameAs(error));
        Assert.That(async () => await q.Writer.WriteAsync(1), Throws.InstanceOf<ChannelClosedException>());
        Assert.That(async () => await q.Reader.Completion.Bounded(), Throws.TypeOf<IOException>());
    }

    [Test]
    public async Task Cancelling_a_wait_to_read_or_write_ends_it()
    {
        var q = new DualQueue<int>(capacity: 1);
        using var cts = new CancellationTokenSource();
        ValueTask<bool> read = q.Reader.WaitToReadAsync(cts.Token);
        q.Put(0);
        Assert.That(await read.Bounded(), Is.True);
        ValueTask<bool> write = q.Writer.WaitToWriteAsync(cts.Token);
        cts.Cancel();
        Assert.That(async () => await write.Bounded(), Throws.InstanceOf<OperationCanceledException>());
        q.Take();
        q.Put(1);
        Assert.That(q.Count, Is.EqualTo(1));
    }

    [Test]
    public async Task Drop_modes_always_have_room_for_a_wait_to_write()
    {
        var q = new DualStack<int>(new DualQueueOptions<int> { Capacity = 1, FullMode = QueueFullMode.DropNewest });
        q.Put(1);
        Assert.That(await q.Writer.WaitToWriteAsync().Bounded(), Is.True);
    }

    [Test]
    public async Task The_readers_ReadAllAsync_is_the_queues_fair_read()
    {
        var pq = new DualPriorityQueue<string, int>();
        pq.Put("b", 2);
        pq.Put("a", 1);
        pq.Complete();
        var read = new List<string>();
        await foreach (string s in pq.Reader.ReadAllAsync())
        {
            read.Add(s);
        }

        Assert.That(read, Is.EqualTo(new[] { "a", "b" }));
    }

    [Test]
    public async Task Code_written_for_channels_runs_on_the_views()
    {
        var q = new DualQueue<int>(capacity: 4);
        int sum = 0;
        Task consumer = ConsumeAsync(q.Reader);
        await ProduceAsync(q.Writer, 1000);
        await consumer.Bounded();
        Assert.That(sum, Is.EqualTo(999 * 1000 / 2));

        async Task ConsumeAsync(ChannelReader<int> reader)
        {
            while (await reader.WaitToReadAsync())
            {
                while (reader.TryRead(out int x))
                {
                    sum += x;
                }
            }
        }

        static async Task ProduceAsync(ChannelWriter<int> writer, int n)
        {
            for (int i = 0; i < n; i++)
            {
                while (!writer.TryWrite(i))
                {
                    if (!await writer.WaitToWriteAsync())
                    {
                        return;
                    }
                }
            }

            writer.Complete();
        }
    }

#pragma warning disable CA2012 // The test drives a ValueTask's awaiter by hand, as a misusing caller would.
    [Test]
    public async Task A_second_continuation_on_a_waiting_read_throws_InvalidOperationException_and_leaves_the_first_intact()
    {
        // Found by the ported dotnet/runtime test ReadAsync_MultipleContinuations_Throws: under a
        // SynchronizationContext, a second UnsafeOnCompleted threw InvalidCastException, and a
        // second OnCompleted overwrote the first continuation's captured ExecutionContext before
        // it was refused. A channel refuses the second continuation with InvalidOperationException.
        var q = new DualQueue<int>();
        ValueTask<int> read = q.Reader.ReadAsync();
        SynchronizationContext? previous = SynchronizationContext.Current;
        var ran = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var flowed = new AsyncLocal<int>();
        try
        {
            SynchronizationContext.SetSynchronizationContext(new PostingContext());
            flowed.Value = 1;
            ValueTaskAwaiter<int> awaiter = read.GetAwaiter();
            awaiter.OnCompleted(() => ran.TrySetResult(flowed.Value));
            flowed.Value = 2;
            Assert.Throws<InvalidOperationException>(() => awaiter.UnsafeOnCompleted(() => ran.TrySetResult(-1)));
            Assert.Throws<InvalidOperationException>(() => awaiter.OnCompleted(() => ran.TrySetResult(-2)));
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previous);
            flowed.Value = 0;
        }

        q.Put(5);
        Assert.That(await ran.Task.Bounded(), Is.EqualTo(1), "the first continuation ran, with its own ExecutionContext");
        Assert.That(read.GetAwaiter().GetResult(), Is.EqualTo(5));
    }

#pragma warning restore CA2012

    private sealed class PostingContext : SynchronizationContext
    {
        public override void Post(SendOrPostCallback d, object? state) => ThreadPool.QueueUserWorkItem(_ => d(state));
    }
}
