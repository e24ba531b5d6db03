namespace AsyncUtils.Tests;

/// <summary>Cancelled waiters for an executor slot: they leave the queue at once, and freeing a slot never recurses through them.</summary>
public sealed class SlotQueueTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Cancelled_Map_iterations_waiting_for_a_slot_leave_the_queue_at_once()
    {
        var executor = new CurrentContextExecutor(1);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task holder = executor.Submit(_ => release.Task);
        try
        {
            using var cts = new CancellationTokenSource();
            int calls = 0;
            var iterations = new List<Task>();
            for (int i = 0; i < 1_000; i++)
            {
                iterations.Add(Drain(executor.Map(Enumerable.Range(0, 10), (x, _) => { Interlocked.Increment(ref calls); return Task.FromResult(x); }, cts.Token)));
            }

            await cts.CancelAsync();
            foreach (Task iteration in iterations)
            {
                await AssertEndsCancelled(iteration);
            }

            // Every lane has ended, so every waiter it queued must be gone, while the slot is still busy.
            Assert.That(executor.WaiterCount, Is.Zero, "cancelled waiters must leave the queue, not wait there for a slot");
            Assert.That(calls, Is.Zero);
        }
        finally
        {
            release.TrySetResult();
        }

        await holder.WaitAsync(Bound);
        Assert.That(await executor.Submit(_ => Task.FromResult(7)).WaitAsync(Bound), Is.EqualTo(7), "the slot is not lost");
        await executor.DisposeAsync().AsTask().WaitAsync(Bound);
        Assert.That(executor.OutstandingCount, Is.Zero);
    }

    [Test]
    public async Task Freeing_a_slot_after_200000_cancelled_waiters_does_not_overflow_a_small_stack()
    {
        var executor = new CurrentContextExecutor(1);

        // Synchronous continuations: the slot is freed, and any grant chain runs, on the thread that sets the result.
        var release = new TaskCompletionSource();
        Task holder = executor.Submit(_ => release.Task);
        using var cts = new CancellationTokenSource();
        var waits = new Task<bool>[200_000];
        for (int i = 0; i < waits.Length; i++)
        {
            waits[i] = executor.AcquireSlotAsync(cts.Token).AsTask();
        }

        await cts.CancelAsync();
        await Task.WhenAll(waits).WaitAsync(Bound);
        Assert.That(waits.All(w => !w.Result), Is.True, "every cancelled wait reports that it got no slot");

        // 256 KB of stack: a grant that recursed once per cancelled waiter would overflow it
        // within a few thousand waiters (and kill the test host).
        Exception? error = null;
        var thread = new Thread(
            () =>
            {
                try
                {
                    release.SetResult();
                }
                catch (Exception ex)
                {
                    error = ex;
                }
            },
            maxStackSize: 256 * 1024);
        thread.Start();
        Assert.That(thread.Join(Bound), Is.True);
        Assert.That(error, Is.Null);
        await holder.WaitAsync(Bound);
        Assert.That(await executor.Submit(_ => Task.FromResult(7)).WaitAsync(Bound), Is.EqualTo(7), "the slot is not lost");
        Assert.That(executor.WaiterCount, Is.Zero);
        await executor.DisposeAsync().AsTask().WaitAsync(Bound);
    }

    [Test]
    public async Task A_waiter_cancelled_while_its_grant_races_either_keeps_the_slot_or_hands_it_on()
    {
        for (int round = 0; round < 2_000; round++)
        {
            var executor = new CurrentContextExecutor(1);
            var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Task holder = executor.Submit(_ => release.Task);
            using var cts = new CancellationTokenSource();
            Task<bool> wait = executor.AcquireSlotAsync(cts.Token).AsTask();
            Task cancel = Task.Run(cts.Cancel);
            release.SetResult();
            await Task.WhenAll(cancel, holder).WaitAsync(Bound);
            if (await wait.WaitAsync(Bound))
            {
                executor.ReleaseSlot(); // granted: a lane would use the slot and give it back
            }

            // Either way exactly one slot exists again: the next call runs, and nothing waits.
            Assert.That(await executor.Submit(_ => Task.FromResult(round)).WaitAsync(Bound), Is.EqualTo(round));
            Assert.That(executor.WaiterCount, Is.Zero);
            await executor.DisposeAsync().AsTask().WaitAsync(Bound);
        }
    }

    private static async Task Drain(IAsyncEnumerable<MapResult<int, int>> map)
    {
        await foreach (MapResult<int, int> _ in map)
        {
        }
    }

    private static async Task AssertEndsCancelled(Task iteration)
    {
        try
        {
            await iteration.WaitAsync(Bound);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        Assert.Fail("the iteration should end with OperationCanceledException");
    }
}
