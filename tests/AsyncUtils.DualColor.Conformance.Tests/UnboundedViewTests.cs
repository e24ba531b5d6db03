// Ported from dotnet/runtime (MIT):
//   src/libraries/System.Threading.Channels/tests/UnboundedChannelTests.cs
// Upstream's UnboundedChannelTests runs ChannelTestBase against Channel.CreateUnbounded; here the
// same base runs against the views of unbounded queues, one fixture per queue type. Not ported:
// SingleReaderUnboundedChannelTests (there is no single-reader mode) and the
// AllowSynchronousContinuations = true fixtures (continuations always run asynchronously).
using System.Threading.Channels;

namespace AsyncUtils.Conformance.Tests;

public sealed class DualQueueUnboundedViewTests() : UnboundedViewTests(Views.Queue);

public sealed class DualStackUnboundedViewTests() : UnboundedViewTests(Views.Stack);

public sealed class DualPriorityQueueUnboundedViewTests() : UnboundedViewTests(Views.Priority);

public abstract class UnboundedViewTests(Views views) : ChannelViewTestBase(views)
{
    protected override Channel<T> CreateChannel<T>() => Views.Create<T>(null);

    protected override Channel<T>? CreateFullChannel<T>() => null;

    [Test]
    public void Count_IncrementsDecrementsAsExpected()
    {
        Channel<int> c = CreateChannel();

        Assert.That(c.Reader.CanCount, Is.True);

        const int ItemsToAdd = 5;
        for (int iter = 0; iter < 2; iter++)
        {
            for (int i = 0; i < ItemsToAdd; i++)
            {
                Assert.That(c.Reader.Count, Is.EqualTo(i));
                Assert.That(c.Writer.TryWrite(i), Is.True);
                Assert.That(c.Reader.Count, Is.EqualTo(i + 1));
            }

            if (iter != 0)
            {
                c.Writer.Complete();
            }

            // Adapted: upstream derives the count from the item read (FIFO: item i leaves 4 - i);
            // here it is derived from how many were read.
            int read = 0;
            while (c.Reader.TryRead(out int item))
            {
                read++;
                Assert.That(c.Reader.Count, Is.EqualTo(ItemsToAdd - read));
            }

            Assert.That(read, Is.EqualTo(ItemsToAdd));
            Assert.That(c.Reader.Count, Is.Zero);
        }
    }

    [Test]
    public async Task Complete_BeforeEmpty_NoWaiters_TriggersCompletion()
    {
        Channel<int> c = CreateChannel();
        Assert.That(c.Writer.TryWrite(42), Is.True);
        c.Writer.Complete();
        Assert.That(c.Reader.Completion.IsCompleted, Is.False);
        Assert.That(await c.Reader.ReadAsync(), Is.EqualTo(42));
        await c.Reader.Completion;
    }

    [Test]
    public void TryWrite_TryRead_Many()
    {
        Channel<int> c = CreateChannel();

        const int NumItems = 100000;
        for (int i = 0; i < NumItems; i++)
        {
            Assert.That(c.Writer.TryWrite(i), Is.True);
        }

        int[] expected = Views.TakeOrder(Enumerable.Range(0, NumItems)); // Adapted: the type's read order.
        for (int i = 0; i < NumItems; i++)
        {
            Assert.That(c.Reader.TryRead(out int result), Is.True);
            Assert.That(result, Is.EqualTo(expected[i]));
        }
    }

    [Test]
    public void TryWrite_TryRead_OneAtATime()
    {
        Channel<int> c = CreateChannel();

        for (int i = 0; i < 10; i++)
        {
            Assert.That(c.Writer.TryWrite(i), Is.True);
            Assert.That(c.Reader.TryRead(out int result), Is.True);
            Assert.That(result, Is.EqualTo(i));
        }
    }

    [Test]
    public void WaitForReadAsync_DataAvailable_CompletesSynchronously()
    {
        Channel<int> c = CreateChannel();
        Assert.That(c.Writer.TryWrite(42), Is.True);
        AssertSynchronousTrue(c.Reader.WaitToReadAsync());
    }

    [TestCase(0)]
    [TestCase(1)]
    public async Task WriteMany_ThenComplete_SuccessfullyReadAll(int readMode)
    {
        Channel<int> c = CreateChannel();
        for (int i = 0; i < 10; i++)
        {
            Assert.That(c.Writer.TryWrite(i), Is.True);
        }

        c.Writer.Complete();
        Assert.That(c.Reader.Completion.IsCompleted, Is.False);

        int[] expected = Views.TakeOrder(Enumerable.Range(0, 10)); // Adapted: the type's read order.
        for (int i = 0; i < 10; i++)
        {
            Assert.That(c.Reader.Completion.IsCompleted, Is.False);
            switch (readMode)
            {
                case 0:
                    Assert.That(c.Reader.TryRead(out int result), Is.True);
                    Assert.That(result, Is.EqualTo(expected[i]));
                    break;
                case 1:
                    Assert.That(await c.Reader.ReadAsync(), Is.EqualTo(expected[i]));
                    break;
            }
        }

        await c.Reader.Completion;
    }

    [Test]
    public void AllowSynchronousContinuations_WaitToReadAsync_ContinuationsInvokedAccordingToSetting()
    {
        Channel<int> c = CreateChannel();

        int expectedId = Environment.CurrentManagedThreadId;
        Task r = c.Reader.WaitToReadAsync().AsTask().ContinueWith(
            _ => Assert.That(expectedId == Environment.CurrentManagedThreadId, Is.False), // AllowSynchronousContinuations is false here
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

        Assert.That(c.Writer.WriteAsync(42).IsCompletedSuccessfully, Is.True);
        Assert.That(((IAsyncResult)r).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30)), Is.True); // avoid inlining the continuation
        r.GetAwaiter().GetResult();
    }

    [Test]
    public void AllowSynchronousContinuations_CompletionTask_ContinuationsInvokedAccordingToSetting()
    {
        Channel<int> c = CreateChannel();

        int expectedId = Environment.CurrentManagedThreadId;
        Task r = c.Reader.Completion.ContinueWith(
            _ => Assert.That(expectedId == Environment.CurrentManagedThreadId, Is.False), // AllowSynchronousContinuations is false here
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

        Assert.That(c.Writer.TryComplete(), Is.True);
        Assert.That(((IAsyncResult)r).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30)), Is.True); // avoid inlining the continuation
        r.GetAwaiter().GetResult();
    }

    [Test]
    public async Task Completion_CompletesAfterConcurrentTryReadAndTryComplete()
    {
        // Adapted: bounded. Upstream runs 100,000 iterations as an outer-loop test; 2,000 keep
        // a run to about a second.
        for (int iter = 0; iter < 2_000; iter++)
        {
            Channel<int> channel = CreateChannel();

            channel.Writer.TryWrite(1);
            channel.Writer.TryWrite(2);

            channel.Reader.TryRead(out _);

            using var barrier = new Barrier(2);
            Task t1 = Task.Run(() =>
            {
                barrier.SignalAndWait();
                channel.Reader.TryRead(out _);
            });

            Task t2 = Task.Run(() =>
            {
                barrier.SignalAndWait();
                channel.Writer.TryComplete();
            });

            await Task.WhenAll(t1, t2);

            channel.Reader.TryRead(out _);

            Task completionTask = channel.Reader.Completion;
            await completionTask.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }
}
