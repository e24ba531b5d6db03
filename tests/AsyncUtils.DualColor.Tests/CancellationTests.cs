namespace AsyncUtils.Tests;

public sealed class CancellationTests
{
    [Test]
    public async Task Cancelling_a_waiting_taker_of_either_color_removes_it_and_takes_nothing()
    {
        var q = new DualQueue<int>();
        using var blockingCts = new CancellationTokenSource();
        using var asyncCts = new CancellationTokenSource();
        Task<int> blocking = TestHelpers.OnThread(() => q.Take(blockingCts.Token));
        TestHelpers.WaitUntil(() => q.WaitingTakers == 1, "blocking taker waits");
        ValueTask<int> awaiting = q.TakeAsync(asyncCts.Token);
        Assert.That(q.WaitingTakers, Is.EqualTo(2));

        blockingCts.Cancel();
        Assert.That(async () => await blocking.Bounded(), Throws.InstanceOf<OperationCanceledException>());
        asyncCts.Cancel();
        Assert.That(async () => await awaiting.Bounded(), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(q.WaitingTakers, Is.Zero);

        q.Put(1);
        Assert.That(q.Count, Is.EqualTo(1));
    }

    [Test]
    public async Task Cancelling_a_waiting_putter_of_either_color_leaves_its_item_out()
    {
        var q = new DualQueue<int>(capacity: 1);
        q.Put(0);
        using var blockingCts = new CancellationTokenSource();
        using var asyncCts = new CancellationTokenSource();
        Task blocking = TestHelpers.OnThread(() => q.Put(1, blockingCts.Token));
        TestHelpers.WaitUntil(() => q.WaitingPutters == 1, "blocking putter waits");
        ValueTask awaiting = q.PutAsync(2, asyncCts.Token);

        asyncCts.Cancel();
        Assert.That(async () => await awaiting.Bounded(), Throws.InstanceOf<OperationCanceledException>());
        blockingCts.Cancel();
        Assert.That(async () => await blocking.Bounded(), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(q.WaitingPutters, Is.Zero);
        Assert.That(q.Take(), Is.EqualTo(0));
        Assert.That(q.TryTake(out _), Is.False);
    }

    [Test]
    public async Task A_cancelled_waiter_in_the_middle_of_the_line_keeps_the_others_in_order()
    {
        var q = new DualQueue<int>();
        using var cts = new CancellationTokenSource();
        ValueTask<int> first = q.TakeAsync();
        Task<int> middle = TestHelpers.OnThread(() => q.Take(cts.Token));
        TestHelpers.WaitUntil(() => q.WaitingTakers == 2, "middle waits");
        ValueTask<int> last = q.TakeAsync();
        cts.Cancel();
        Assert.That(async () => await middle.Bounded(), Throws.InstanceOf<OperationCanceledException>());
        q.Put(1);
        q.Put(2);
        Assert.That(await first.Bounded(), Is.EqualTo(1));
        Assert.That(await last.Bounded(), Is.EqualTo(2));
    }

    [Test]
    public void An_already_cancelled_token_fails_every_waiting_form_before_it_touches_the_queue()
    {
        var q = new DualQueue<int>();
        q.Put(1);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.That(() => q.Take(cts.Token), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(q.TakeAsync(cts.Token).AsTask().IsCanceled, Is.True);
        Assert.That(q.PutAsync(2, cts.Token).AsTask().IsCanceled, Is.True);
        Assert.That(() => q.Put(2, cts.Token), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(() => q.TryTake(out _, TimeSpan.Zero, cts.Token), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(q.Count, Is.EqualTo(1));
    }

    [Test]
    public async Task An_async_taker_cancelled_while_an_item_arrives_never_swallows_it()
    {
        var q = new DualQueue<int>();
        int received = 0;
        int cancelled = 0;
        for (int i = 0; i < 2000; i++)
        {
            using var cts = new CancellationTokenSource();
            Task<int> take = q.TakeAsync(cts.Token).AsTask();
            int item = i;
            Task racer = Task.Run(() =>
            {
                if (item % 2 == 0)
                {
                    q.Put(item);
                    cts.Cancel();
                }
                else
                {
                    cts.Cancel();
                    q.Put(item);
                }
            });
            Task cancelling = Task.Run(cts.Cancel);
            await Task.WhenAll(racer, cancelling).Bounded();
            try
            {
                Assert.That(await take.Bounded(), Is.EqualTo(item));
                received++;
                Assert.That(q.Count, Is.Zero);
            }
            catch (OperationCanceledException)
            {
                cancelled++;
                Assert.That(q.TryTake(out int left), Is.True, "a cancelled take leaves the item in the queue");
                Assert.That(left, Is.EqualTo(item));
            }
        }

        Assert.That(received + cancelled, Is.EqualTo(2000));
        Assert.That(cancelled, Is.GreaterThan(0));
    }

    [Test]
    public async Task A_blocking_taker_cancelled_or_timed_out_while_an_item_arrives_never_swallows_it()
    {
        // One dedicated taker thread and one racer thread meet at a barrier each round; the racer
        // puts and cancels in either order while the taker waits with a token and a short timeout.
        const int rounds = 1000;
        var q = new DualQueue<int>();
        using var barrier = new Barrier(2);
        var tokens = new CancellationTokenSource[rounds];
        for (int i = 0; i < rounds; i++)
        {
            tokens[i] = new CancellationTokenSource();
        }

        int received = 0;
        int lost = 0;
        Task taker = TestHelpers.OnThread(() =>
        {
            for (int i = 0; i < rounds; i++)
            {
                barrier.SignalAndWait();
                bool got;
                int x;
                try
                {
                    // The timeout is real time on purpose: it races with the put (0-2 ms). Every
                    // fifth round nothing cancels and the wait is long, so the item must arrive.
                    TimeSpan timeout = i % 5 == 4 ? TestHelpers.Bound : TimeSpan.FromMilliseconds(i % 3);
                    got = q.TryTake(out x, timeout, tokens[i].Token);
                }
                catch (OperationCanceledException)
                {
                    got = false;
                    x = -1;
                }

                barrier.SignalAndWait();
                if (got)
                {
                    received++;
                    if (x != i)
                    {
                        lost++;
                    }
                }
                else if (!q.TryTake(out int left) || left != i)
                {
                    lost++;
                }
            }
        });
        Task racer = TestHelpers.OnThread(() =>
        {
            for (int i = 0; i < rounds; i++)
            {
                barrier.SignalAndWait();
                if (i % 5 == 4)
                {
                    q.Put(i);
                }
                else if (i % 2 == 0)
                {
                    q.Put(i);
                    tokens[i].Cancel();
                }
                else
                {
                    tokens[i].Cancel();
                    q.Put(i);
                }

                barrier.SignalAndWait();
            }
        });
        await Task.WhenAll(taker, racer).WaitAsync(TimeSpan.FromSeconds(60));
        foreach (var t in tokens)
        {
            t.Dispose();
        }

        Assert.That(lost, Is.Zero);
        Assert.That(q.Count, Is.Zero);
        Assert.That(received, Is.GreaterThanOrEqualTo(rounds / 5), "the uncancelled rounds all received");
    }

    [Test]
    public async Task An_async_putter_cancelled_while_room_appears_either_went_in_or_did_not()
    {
        var q = new DualQueue<int>(capacity: 1);
        int inQueue = 0;
        for (int i = 0; i < 2000; i++)
        {
            q.Put(-1);
            using var cts = new CancellationTokenSource();
            ValueTask put = q.PutAsync(i, cts.Token);
            Task taker = Task.Run(() => q.Take());
            Task cancelling = i % 5 == 4 ? Task.CompletedTask : Task.Run(cts.Cancel); // every fifth round must go in
            await Task.WhenAll(taker, cancelling).Bounded();
            bool went;
            try
            {
                await put.Bounded();
                went = true;
            }
            catch (OperationCanceledException)
            {
                went = false;
            }

            // Whatever happened, the queue holds exactly what was accepted: -1 was taken.
            Assert.That(q.TryTake(out int left), Is.EqualTo(went));
            if (went)
            {
                Assert.That(left, Is.EqualTo(i));
                inQueue++;
            }

            Assert.That(q.Count, Is.Zero);
        }

        Assert.That(inQueue, Is.GreaterThanOrEqualTo(2000 / 5));
    }

    [Test]
    public async Task An_interrupted_blocking_taker_leaves_the_line_and_takes_nothing()
    {
        var q = new DualQueue<int>();
        Exception? caught = null;
        var thread = new Thread(() =>
        {
            try
            {
                q.Take();
            }
            catch (ThreadInterruptedException e)
            {
                caught = e;
            }
        })
        { IsBackground = true };
        thread.Start();
        TestHelpers.WaitUntil(() => q.WaitingTakers == 1, "the taker blocks");
        thread.Interrupt();
        Assert.That(thread.Join(TestHelpers.Bound), Is.True);
        Assert.That(caught, Is.TypeOf<ThreadInterruptedException>());
        Assert.That(q.WaitingTakers, Is.Zero);
        await q.PutAsync(1);
        Assert.That(q.Count, Is.EqualTo(1));
    }
}
