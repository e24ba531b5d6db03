using System.Collections.Concurrent;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

/// <summary>Ordered delivery, and a callback that tries to wait for its own waterfall's stop.</summary>
public sealed class WaterfallOrderingTests
{
    private static readonly TimeSpan Bound = BatchRecorder<int>.Bound;

    [Test]
    public async Task Ordered_delivery_calls_the_callback_for_every_batch_in_order_while_batches_overlap()
    {
        // Without OrderedDelivery this fails: with no cap, hundreds of 20,000 batches reach the
        // callback out of order.
        const int items = 200_000;
        var called = new List<int>(items / 10);
        var seen = new int[items];
        int running = 0;
        int maxRunning = 0;
        var waterfall = new Waterfall<int>(
            async (batch, _) =>
            {
                lock (called)
                {
                    called.Add(batch[0]); // the synchronous part: records the order of the calls
                }

                InterlockedMax(ref maxRunning, Interlocked.Increment(ref running));
                await Task.Yield();
                foreach (int item in batch)
                {
                    Interlocked.Increment(ref seen[item]);
                }

                Interlocked.Decrement(ref running);
            },
            new WaterfallOptions { MaxBatchSize = 10, OrderedDelivery = true, TimeProvider = new FakeTimeProvider() });
        waterfall.Start();
        for (int i = 0; i < items; i++)
        {
            waterfall.Put(i);
        }

        await waterfall.StopAsync().WaitAsync(Bound);
        Assert.That(seen.Count(c => c != 1), Is.Zero, "every item delivered exactly once");
        Assert.That(called, Has.Count.EqualTo(items / 10));
        int outOfOrder = called.Zip(called.Skip(1)).Count(p => p.Second < p.First);
        Assert.That(outOfOrder, Is.Zero, "batches handed over out of order");
        TestContext.Out.WriteLine($"at most {maxRunning} batches ran at once");
    }

    [Test]
    public async Task Ordered_delivery_keeps_the_cap_and_calls_the_next_batch_when_any_running_one_finishes()
    {
        var gates = Enumerable.Range(0, 10).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        using var recorder = new BatchRecorder<int> { Inner = async (batch, _) => await gates[batch[0]].Task };
        var waterfall = new Waterfall<int>(recorder.Callback, new WaterfallOptions
        {
            MaxBatchSize = 1,
            MaxConcurrentBatches = 3,
            OrderedDelivery = true,
            TimeProvider = new FakeTimeProvider(),
        });
        try
        {
            waterfall.Start();
            for (int i = 0; i < 10; i++)
            {
                waterfall.Put(i);
            }

            await recorder.WaitForAsync(3);
            Assert.That(recorder.Items(), Is.EqualTo(new[] { 0, 1, 2 }), "three run at once, the first three");

            gates[1].SetResult(); // a later batch finishing first frees the slot for the next in order
            await recorder.WaitForAsync(1);
            Assert.That(recorder.Items(), Is.EqualTo(new[] { 0, 1, 2, 3 }));

            Task stop = waterfall.StopAsync();
            Assert.That(stop.IsCompleted, Is.False);
            foreach (TaskCompletionSource gate in Enumerable.Reverse(gates))
            {
                gate.TrySetResult();
            }

            await stop.WaitAsync(Bound);
            Assert.That(recorder.Items(), Is.EqualTo(Enumerable.Range(0, 10)), "called in order to the end");
            Assert.That(waterfall.GetStatistics().BatchesCompleted, Is.EqualTo(10));
        }
        finally
        {
            foreach (TaskCompletionSource gate in gates)
            {
                gate.TrySetResult();
            }
        }
    }

    [Test]
    public async Task Ordered_delivery_stops_with_batches_queued_behind_the_cap()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var recorder = new BatchRecorder<int> { Inner = async (_, _) => await gate.Task };
        var waterfall = new Waterfall<int>(recorder.Callback, new WaterfallOptions
        {
            MaxBatchSize = 4,
            MaxConcurrentBatches = 2,
            OrderedDelivery = true,
            TimeProvider = new FakeTimeProvider(),
        });
        waterfall.Start();
        for (int i = 0; i < 21; i++)
        {
            waterfall.Put(i);
        }

        await recorder.WaitForAsync(2);
        Task stop = waterfall.StopAsync(); // four full batches and the stop's batch of one still wait
        Assert.That(stop.IsCompleted, Is.False);
        gate.SetResult();
        await stop.WaitAsync(Bound);
        Assert.That(recorder.Items(), Is.EqualTo(Enumerable.Range(0, 21)));
        Assert.That(recorder.Batches.Select(b => b.Count), Is.EqualTo(new[] { 4, 4, 4, 4, 4, 1 }));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Awaiting_StopAsync_inside_a_callback_fails_at_once_instead_of_waiting_forever(bool ordered)
    {
        var insideStop = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        Waterfall<int>? self = null;
        using var recorder = new BatchRecorder<int>
        {
            Inner = async (batch, token) =>
            {
                if (batch[0] == 0)
                {
                    await Task.Yield(); // the marker flows across awaits
                    Task stop = self!.StopAsync(CancellationToken.None);
                    try
                    {
                        await stop.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None); // a regression times out here
                        insideStop.TrySetResult(null);
                    }
                    catch (Exception ex)
                    {
                        insideStop.TrySetResult(ex);
                    }
                }
            },
        };
        var waterfall = self = new Waterfall<int>(recorder.Callback, new WaterfallOptions
        {
            MaxBatchSize = 2,
            OrderedDelivery = ordered,
            TimeProvider = new FakeTimeProvider(),
        });
        waterfall.Start();
        for (int i = 0; i < 5; i++)
        {
            waterfall.Put(i);
        }

        Exception? thrown = await insideStop.Task.WaitAsync(Bound);
        Assert.That(thrown, Is.InstanceOf<InvalidOperationException>());
        Assert.That(thrown!.Message, Does.Contain("inside one of this waterfall's callbacks"));
        Assert.That(waterfall.TryPut(99), Is.False, "the stop still began");

        // Outside the callbacks the same stop is awaited as usual and delivers everything.
        await waterfall.StopAsync().WaitAsync(Bound);
        Assert.That(recorder.Items().Order(), Is.EqualTo(Enumerable.Range(0, 5)));
        Assert.That(waterfall.GetStatistics().BatchesFailed, Is.Zero);
    }

    [Test]
    public async Task A_callback_may_begin_the_stop_without_awaiting_it()
    {
        Waterfall<int>? self = null;
        using var recorder = new BatchRecorder<int>
        {
            Inner = (batch, token) =>
            {
                if (batch[0] == 0)
                {
                    _ = self!.StopAsync(CancellationToken.None); // fire and forget: the stop begins, nothing waits
                }

                return ValueTask.CompletedTask;
            },
        };
        var waterfall = self = new Waterfall<int>(recorder.Callback, new WaterfallOptions { MaxBatchSize = 2, MaxConcurrentBatches = 1, TimeProvider = new FakeTimeProvider() });
        waterfall.Start();
        waterfall.Put(0);
        waterfall.Put(1);
        await recorder.WaitForAsync(1);
        Assert.That(waterfall.TryPut(2), Is.False, "stopped by the callback");
        await waterfall.StopAsync().WaitAsync(Bound);
        Assert.That(recorder.Items(), Is.EqualTo(new[] { 0, 1 }));
    }

    [Test]
    public async Task StopAsync_from_work_a_callback_started_is_awaited_normally_once_that_callback_returned()
    {
        var later = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task? background = null;
        Waterfall<int>? self = null;
        using var recorder = new BatchRecorder<int>
        {
            Inner = (batch, token) =>
            {
                if (batch[0] == 0)
                {
                    // Inherits the callback's execution context, but runs the stop after the callback returned.
                    background = Task.Run(
                        async () =>
                        {
                            await later.Task;
                            await self!.StopAsync(CancellationToken.None);
                        },
                        CancellationToken.None);
                }

                return ValueTask.CompletedTask;
            },
        };
        var waterfall = self = new Waterfall<int>(recorder.Callback, new WaterfallOptions { MaxBatchSize = 1, MaxConcurrentBatches = 1, TimeProvider = new FakeTimeProvider() });
        waterfall.Start();
        waterfall.Put(0);
        await recorder.WaitForAsync(1);
        await WaitUntilAsync(() => waterfall.GetStatistics().BatchesCompleted == 1);
        later.SetResult();
        await background!.WaitAsync(Bound);
        Assert.That(waterfall.TryPut(1), Is.False);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException();
            }

            await Task.Delay(1);
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current = Volatile.Read(ref target);
        while (value > current)
        {
            int seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
