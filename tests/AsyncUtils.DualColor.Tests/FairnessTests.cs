namespace AsyncUtils.Tests;

public sealed class FairnessTests
{
    [Test]
    public async Task Blocked_threads_and_awaiting_tasks_take_in_the_order_they_began_waiting()
    {
        var q = new DualQueue<int>();
        // A pattern mixing both colors, including runs of the same color.
        bool[] blocking = [true, false, true, true, false, false, true, false, false, true];
        var takers = new List<Task<int>>();
        for (int i = 0; i < blocking.Length; i++)
        {
            takers.Add(blocking[i] ? TestHelpers.OnThread(() => q.Take()) : q.TakeAsync().AsTask());
            int expected = i + 1;
            TestHelpers.WaitUntil(() => q.WaitingTakers == expected, $"taker {i} waits");
        }

        for (int i = 0; i < blocking.Length; i++)
        {
            q.Put(i);
        }

        int[] received = await Task.WhenAll(takers).Bounded();
        Assert.That(received, Is.EqualTo(Enumerable.Range(0, blocking.Length)));
    }

    [Test]
    public async Task Blocked_threads_and_awaiting_tasks_put_in_the_order_they_began_waiting()
    {
        var q = new DualQueue<int>(capacity: 1);
        q.Put(-1);
        bool[] blocking = [false, true, true, false, true, false, false, true];
        var putters = new List<Task>();
        for (int i = 0; i < blocking.Length; i++)
        {
            int item = i;
            putters.Add(blocking[i] ? TestHelpers.OnThread(() => q.Put(item)) : q.PutAsync(item).AsTask());
            int expected = i + 1;
            TestHelpers.WaitUntil(() => q.WaitingPutters == expected, $"putter {i} waits");
        }

        var taken = new List<int>();
        for (int i = 0; i <= blocking.Length; i++)
        {
            taken.Add(i % 2 == 0 ? q.Take() : await q.TakeAsync());
        }

        await Task.WhenAll(putters).Bounded();
        Assert.That(taken, Is.EqualTo(Enumerable.Range(-1, blocking.Length + 1)));
    }

    [Test]
    public async Task A_try_take_never_takes_an_item_a_waiting_taker_is_owed()
    {
        var q = new DualQueue<int>();
        ValueTask<int> waiting = q.TakeAsync();
        q.Put(1);
        Assert.That(q.TryTake(out _), Is.False, "the item went straight to the waiting taker");
        Assert.That(await waiting.Bounded(), Is.EqualTo(1));
    }

    [Test]
    public async Task A_try_put_never_takes_room_a_waiting_putter_is_owed()
    {
        var q = new DualQueue<int>(capacity: 1);
        q.Put(1);
        ValueTask waiting = q.PutAsync(2);
        Assert.That(q.Take(), Is.EqualTo(1));
        Assert.That(q.TryPut(3), Is.False, "the freed room went to the waiting putter");
        await waiting.Bounded();
        Assert.That(q.Take(), Is.EqualTo(2));
    }

    [Test]
    public async Task An_async_takers_continuation_does_not_run_inline_on_the_putting_thread()
    {
        var q = new DualQueue<int>();
        using var putReturned = new ManualResetEventSlim();
        int putterThread = -1;
        bool putReturnedBeforeContinuation = false;
        int continuationThread = -1;

        async Task ConsumeAsync()
        {
            await q.TakeAsync();
            continuationThread = Environment.CurrentManagedThreadId;
            // Inline on the putter, this would wait the full bound with Put never returning.
            putReturnedBeforeContinuation = putReturned.Wait(TimeSpan.FromSeconds(10));
        }

        Task consumer = ConsumeAsync();
        Task putter = TestHelpers.OnThread(() =>
        {
            putterThread = Environment.CurrentManagedThreadId;
            q.Put(1);
            putReturned.Set();
        });
        await Task.WhenAll(consumer, putter).Bounded();
        Assert.That(putReturnedBeforeContinuation, Is.True);
        Assert.That(continuationThread, Is.Not.EqualTo(putterThread));
    }

    [Test]
    public async Task An_async_putters_continuation_does_not_run_inline_on_the_taking_thread()
    {
        var q = new DualQueue<int>(capacity: 1);
        q.Put(0);
        using var takeReturned = new ManualResetEventSlim();
        int takerThread = -1;
        bool takeReturnedBeforeContinuation = false;
        int continuationThread = -1;

        async Task ProduceAsync()
        {
            await q.PutAsync(1);
            continuationThread = Environment.CurrentManagedThreadId;
            takeReturnedBeforeContinuation = takeReturned.Wait(TimeSpan.FromSeconds(10));
        }

        Task producer = ProduceAsync();
        Task taker = TestHelpers.OnThread(() =>
        {
            takerThread = Environment.CurrentManagedThreadId;
            q.Take();
            takeReturned.Set();
        });
        await Task.WhenAll(producer, taker).Bounded();
        Assert.That(takeReturnedBeforeContinuation, Is.True);
        Assert.That(continuationThread, Is.Not.EqualTo(takerThread));
    }

    [Test]
    public async Task Completion_does_not_run_waiters_continuations_inline()
    {
        var q = new DualQueue<int>();
        using var completeReturned = new ManualResetEventSlim();
        bool returnedFirst = false;

        async Task ConsumeAsync()
        {
            try
            {
                await q.TakeAsync();
            }
            catch (QueueCompletedException)
            {
                returnedFirst = completeReturned.Wait(TimeSpan.FromSeconds(10));
            }
        }

        Task consumer = ConsumeAsync();
        await TestHelpers.OnThread(() =>
        {
            q.Complete();
            completeReturned.Set();
        }).Bounded();
        await consumer.Bounded();
        Assert.That(returnedFirst, Is.True);
    }
}
