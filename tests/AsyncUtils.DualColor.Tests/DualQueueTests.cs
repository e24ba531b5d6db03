using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class DualQueueTests
{
    [Test]
    public async Task Items_come_out_in_the_order_they_went_in_whatever_form_put_and_took_them()
    {
        var q = new DualQueue<int>();
        Assert.That(q.TryPut(1), Is.True);
        q.Put(2);
        await q.PutAsync(3);
        Assert.That(q.TryPut(4, TimeSpan.Zero), Is.True);
        Assert.That(q.Count, Is.EqualTo(4));

        Assert.That(q.TryTake(out int a), Is.True);
        int b = q.Take();
        int c = await q.TakeAsync();
        Assert.That(q.TryTake(out int d, TimeSpan.Zero), Is.True);
        Assert.That(new[] { a, b, c, d }, Is.EqualTo(new[] { 1, 2, 3, 4 }));
        Assert.That(q.Count, Is.Zero);
        Assert.That(q.TryTake(out _), Is.False);
        Assert.That(q.TryTake(out _, TimeSpan.Zero), Is.False);
    }

    [Test]
    public void An_unbounded_queue_grows_past_its_initial_buffer_and_keeps_the_order()
    {
        var q = new DualQueue<int>();
        for (int i = 0; i < 1000; i++)
        {
            q.Put(i);
            if (i % 3 == 0)
            {
                Assert.That(q.Take(), Is.EqualTo(i / 3));
            }
        }

        var rest = new List<int>();
        while (q.TryTake(out int x))
        {
            rest.Add(x);
        }

        Assert.That(rest, Is.EqualTo(Enumerable.Range(334, 666)));
        Assert.That(q.Capacity, Is.Null);
    }

    [Test]
    public async Task A_blocked_taker_gets_the_next_put_item()
    {
        var q = new DualQueue<string>();
        Task<string> taker = TestHelpers.OnThread(() => q.Take());
        TestHelpers.WaitUntil(() => q.WaitingTakers == 1, "the taker blocks");
        q.Put("x");
        Assert.That(await taker.Bounded(), Is.EqualTo("x"));
        Assert.That(q.Count, Is.Zero, "the item went straight to the taker");
        Assert.That(q.WaitingTakers, Is.Zero);
    }

    [Test]
    public async Task An_awaiting_taker_gets_an_item_put_by_a_blocking_producer()
    {
        var q = new DualQueue<int>();
        ValueTask<int> take = q.TakeAsync();
        Assert.That(take.IsCompleted, Is.False);
        Assert.That(q.WaitingTakers, Is.EqualTo(1));
        await TestHelpers.OnThread(() => q.Put(42)).Bounded();
        Assert.That(await take.Bounded(), Is.EqualTo(42));
    }

    [Test]
    public async Task A_full_bounded_queue_makes_blocking_and_async_putters_wait_for_room()
    {
        var q = new DualQueue<int>(capacity: 2);
        q.Put(1);
        q.Put(2);
        Assert.That(q.TryPut(3), Is.False, "try-now fails on a full queue");
        Assert.That(q.TryPut(3, TimeSpan.Zero), Is.False);

        Task blocked = TestHelpers.OnThread(() => q.Put(3));
        TestHelpers.WaitUntil(() => q.WaitingPutters == 1, "the blocking putter waits");
        ValueTask awaiting = q.PutAsync(4);
        Assert.That(awaiting.IsCompleted, Is.False);
        Assert.That(q.WaitingPutters, Is.EqualTo(2));
        Assert.That(q.Count, Is.EqualTo(2));

        Assert.That(q.Take(), Is.EqualTo(1));
        await blocked.Bounded();
        Assert.That(await q.TakeAsync(), Is.EqualTo(2));
        await awaiting.Bounded();
        Assert.That(q.WaitingPutters, Is.Zero);
        Assert.That(q.Take(), Is.EqualTo(3));
        Assert.That(q.Take(), Is.EqualTo(4));
    }

    [Test]
    public void Settings_are_checked_and_name_the_argument()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => new DualQueue<int>(0), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("capacity"));
            Assert.That(() => new DualQueue<int>(-5), Throws.TypeOf<ArgumentOutOfRangeException>());
            Assert.That(() => new DualQueue<int>(null!), Throws.TypeOf<ArgumentNullException>().With.Property("ParamName").EqualTo("options"));
            Assert.That(() => new DualQueue<int>(new DualQueueOptions<int> { Capacity = 0 }), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("options"));
            Assert.That(() => new DualQueue<int>(new DualQueueOptions<int> { Capacity = 2, FullMode = (QueueFullMode)9 }), Throws.TypeOf<ArgumentOutOfRangeException>());
            Assert.That(() => new DualQueue<int>(new DualQueueOptions<int> { FullMode = QueueFullMode.DropOldest }), Throws.TypeOf<ArgumentException>().With.Message.Contains("Capacity"));
            Assert.That(() => new DualStack<int>(0), Throws.TypeOf<ArgumentOutOfRangeException>());
            Assert.That(() => new DualPriorityQueue<int, int>(new DualPriorityQueueOptions<int, int> { FullMode = QueueFullMode.Reject }), Throws.TypeOf<ArgumentException>());
        });
    }

    [Test]
    public void A_bad_timeout_is_rejected_and_the_queue_stays_usable()
    {
        var q = new DualQueue<int>(1);
        Assert.That(() => q.TryPut(1, TimeSpan.FromMilliseconds(-2)), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("timeout"));
        Assert.That(() => q.TryTake(out _, TimeSpan.FromDays(30)), Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("timeout"));
        Assert.That(q.Count, Is.Zero);
        Assert.That(q.TryPut(1, Timeout.InfiniteTimeSpan), Is.True);
        Assert.That(q.TryTake(out int x, Timeout.InfiniteTimeSpan), Is.True);
        Assert.That(x, Is.EqualTo(1));
    }

    [Test]
    public void Options_are_copied_when_the_queue_is_created()
    {
        var options = new DualQueueOptions<int> { Capacity = 1 };
        var q = new DualQueue<int>(options);
        options.Capacity = 10;
        options.FullMode = QueueFullMode.DropOldest;
        Assert.That(q.Capacity, Is.EqualTo(1));
        Assert.That(q.FullMode, Is.EqualTo(QueueFullMode.Wait));
        q.Put(1);
        Assert.That(q.TryPut(2), Is.False);
    }

    [Test]
    public async Task A_pooled_async_waiter_refuses_a_second_read_of_its_result()
    {
        var q = new DualQueue<int>();
        ValueTask<int> take = q.TakeAsync();
        q.Put(7);
        Assert.That(await take.Bounded(), Is.EqualTo(7));
        // The waiter went back to the pool: the stale ValueTask must not read it again.
        Assert.That(() => take.GetAwaiter().GetResult(), Throws.InvalidOperationException);
        ValueTask<int> next = q.TakeAsync();
        q.Put(8);
        Assert.That(await next.Bounded(), Is.EqualTo(8));
    }

    [Test]
    public async Task Many_async_waits_in_a_row_reuse_waiters_and_lose_nothing()
    {
        var q = new DualQueue<int>(capacity: 1);
        const int n = 20_000;
        Task consumer = Task.Run(async () =>
        {
            for (int i = 0; i < n; i++)
            {
                Assert.That(await q.TakeAsync(), Is.EqualTo(i));
            }
        });
        for (int i = 0; i < n; i++)
        {
            await q.PutAsync(i);
        }

        await consumer.Bounded();
        Assert.That(q.Count, Is.Zero);
    }

    [Test]
    public async Task Blocking_timeouts_follow_the_injected_clock()
    {
        var clock = new FakeTimeProvider();
        var q = new DualQueue<int>(new DualQueueOptions<int> { Capacity = 1, TimeProvider = clock });

        Task<bool> take = TestHelpers.OnThread(() => q.TryTake(out _, TimeSpan.FromSeconds(5)));
        TestHelpers.WaitUntil(() => q.WaitingTakers == 1, "the taker waits");
        clock.Advance(TimeSpan.FromSeconds(4));
        Assert.That(take.IsCompleted, Is.False);
        Assert.That(q.WaitingTakers, Is.EqualTo(1));
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.That(await take.Bounded(), Is.False);
        Assert.That(q.WaitingTakers, Is.Zero);

        q.Put(1);
        Assert.That(q.Count, Is.EqualTo(1), "the timed-out taker is gone and takes nothing");

        Task<bool> put = TestHelpers.OnThread(() => q.TryPut(2, TimeSpan.FromSeconds(3)));
        TestHelpers.WaitUntil(() => q.WaitingPutters == 1, "the putter waits");
        clock.Advance(TimeSpan.FromSeconds(3));
        Assert.That(await put.Bounded(), Is.False);
        Assert.That(q.WaitingPutters, Is.Zero);
        Assert.That(q.Take(), Is.EqualTo(1));
        Assert.That(q.Count, Is.Zero, "the timed-out item never went in");
    }

    [Test]
    public async Task A_blocking_wait_on_the_injected_clock_that_is_granted_before_the_timeout_returns_the_item()
    {
        var clock = new FakeTimeProvider();
        var q = new DualQueue<int>(new DualQueueOptions<int> { TimeProvider = clock });
        Task<(bool, int)> take = TestHelpers.OnThread(() => (q.TryTake(out int x, TimeSpan.FromSeconds(5)), x));
        TestHelpers.WaitUntil(() => q.WaitingTakers == 1, "the taker waits");
        q.Put(9);
        Assert.That(await take.Bounded(), Is.EqualTo((true, 9)));
        clock.Advance(TimeSpan.FromSeconds(10)); // the disposed timer fires into nothing
        q.Put(10);
        Assert.That(q.Count, Is.EqualTo(1));
    }

    [Test]
    public void Blocking_timeouts_on_the_system_clock_end_the_wait()
    {
        // The system clock's path waits on the event with a timeout; it can only be observed in
        // real time, so this waits 50 ms for real.
        var q = new DualQueue<int>(1);
        Assert.That(q.TryTake(out _, TimeSpan.FromMilliseconds(50)), Is.False);
        q.Put(1);
        Assert.That(q.TryPut(2, TimeSpan.FromMilliseconds(50)), Is.False);
        Assert.That(q.WaitingTakers + q.WaitingPutters, Is.Zero);
        Assert.That(q.Take(), Is.EqualTo(1));
    }
}
