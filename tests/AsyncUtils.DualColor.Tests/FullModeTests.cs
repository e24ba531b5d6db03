namespace AsyncUtils.Tests;

public sealed class FullModeTests
{
    [Test]
    public async Task DropOldest_removes_the_head_of_a_full_queue_and_reports_it()
    {
        var dropped = new List<int>();
        var q = new DualQueue<int>(new DualQueueOptions<int> { Capacity = 2, FullMode = QueueFullMode.DropOldest, OnDropped = dropped.Add });
        q.Put(1);
        q.Put(2);
        q.Put(3);
        Assert.That(q.TryPut(4), Is.True);
        await q.PutAsync(5);
        Assert.That(q.TryPut(6, TimeSpan.Zero), Is.True);
        Assert.That(dropped, Is.EqualTo(new[] { 1, 2, 3, 4 }));
        Assert.That(q.Take(), Is.EqualTo(5));
        Assert.That(q.Take(), Is.EqualTo(6));
        Assert.That(q.WaitingPutters, Is.Zero);
    }

    [Test]
    public void DropNewest_drops_the_item_being_put_and_leaves_the_queue_unchanged()
    {
        var dropped = new List<int>();
        var q = new DualQueue<int>(new DualQueueOptions<int> { Capacity = 2, FullMode = QueueFullMode.DropNewest, OnDropped = dropped.Add });
        q.Put(1);
        q.Put(2);
        q.Put(3);
        Assert.That(q.TryPut(4), Is.True, "a drop mode put reports success");
        Assert.That(dropped, Is.EqualTo(new[] { 3, 4 }));
        Assert.That(q.Take(), Is.EqualTo(1));
        Assert.That(q.Take(), Is.EqualTo(2));
    }

    [Test]
    public async Task Reject_fails_every_put_form_at_once_on_a_full_queue()
    {
        var q = new DualQueue<int>(new DualQueueOptions<int> { Capacity = 1, FullMode = QueueFullMode.Reject });
        q.Put(1);
        Assert.That(q.TryPut(2), Is.False);
        Assert.That(q.TryPut(2, TimeSpan.FromHours(1)), Is.False, "does not wait");
        Assert.That(() => q.Put(2), Throws.TypeOf<QueueFullException>());
        Assert.That(async () => await q.PutAsync(2), Throws.TypeOf<QueueFullException>());
        Assert.That(q.WaitingPutters, Is.Zero);
        Assert.That(q.Take(), Is.EqualTo(1));
        await q.PutAsync(3);
        Assert.That(q.Take(), Is.EqualTo(3));
    }

    [Test]
    public async Task A_waiting_taker_gets_the_item_so_nothing_is_dropped()
    {
        var dropped = new List<int>();
        var q = new DualQueue<int>(new DualQueueOptions<int> { Capacity = 1, FullMode = QueueFullMode.DropNewest, OnDropped = dropped.Add });
        ValueTask<int> waiting = q.TakeAsync();
        q.Put(1);
        q.Put(2);
        q.Put(3);
        Assert.That(await waiting.Bounded(), Is.EqualTo(1));
        Assert.That(dropped, Is.EqualTo(new[] { 3 }));
        Assert.That(q.Take(), Is.EqualTo(2));
    }

    [Test]
    public async Task A_throwing_drop_callback_reaches_the_putter_after_the_put_took_effect()
    {
        var q = new DualQueue<int>(new DualQueueOptions<int>
        {
            Capacity = 1,
            FullMode = QueueFullMode.DropOldest,
            OnDropped = x => throw new ArithmeticException($"dropped {x}"),
        });
        q.Put(1);
        Assert.That(() => q.Put(2), Throws.TypeOf<ArithmeticException>().With.Message.EqualTo("dropped 1"));
        Assert.That(() => q.TryPut(3), Throws.TypeOf<ArithmeticException>().With.Message.EqualTo("dropped 2"));
        Assert.That(async () => await q.PutAsync(4), Throws.TypeOf<ArithmeticException>().With.Message.EqualTo("dropped 3"));
        Assert.That(q.Count, Is.EqualTo(1));
        Assert.That(await q.TakeAsync(), Is.EqualTo(4), "each put took effect and the queue still works");
    }

    [Test]
    public async Task The_drop_callback_may_use_the_queue()
    {
        DualQueue<int>? q = null;
        var overflow = new DualQueue<int>();
        q = new DualQueue<int>(new DualQueueOptions<int>
        {
            Capacity = 1,
            FullMode = QueueFullMode.DropOldest,
            OnDropped = x => overflow.Put(x * 100 + q!.Count), // runs outside the lock: no deadlock
        });
        q.Put(1);
        await q.PutAsync(2).Bounded();
        Assert.That(overflow.Take(), Is.EqualTo(101));
    }

    [Test]
    public void DropOldest_on_a_stack_drops_the_bottom_item()
    {
        var dropped = new List<int>();
        var s = new DualStack<int>(new DualQueueOptions<int> { Capacity = 2, FullMode = QueueFullMode.DropOldest, OnDropped = dropped.Add });
        s.Put(1);
        s.Put(2);
        s.Put(3);
        Assert.That(dropped, Is.EqualTo(new[] { 1 }));
        Assert.That(s.Take(), Is.EqualTo(3));
        Assert.That(s.Take(), Is.EqualTo(2));
    }

    [Test]
    public void DropNewest_on_a_stack_drops_the_item_being_put()
    {
        var dropped = new List<int>();
        var s = new DualStack<int>(new DualQueueOptions<int> { Capacity = 2, FullMode = QueueFullMode.DropNewest, OnDropped = dropped.Add });
        s.Put(1);
        s.Put(2);
        s.Put(3);
        Assert.That(dropped, Is.EqualTo(new[] { 3 }));
        Assert.That(s.Take(), Is.EqualTo(2));
    }

    [Test]
    public void DropOldest_on_a_priority_queue_drops_the_item_that_went_in_first_whatever_its_priority()
    {
        var dropped = new List<(string, int)>();
        var pq = new DualPriorityQueue<string, int>(new DualPriorityQueueOptions<string, int>
        {
            Capacity = 3,
            FullMode = QueueFullMode.DropOldest,
            OnDropped = (e, p) => dropped.Add((e, p)),
        });
        pq.Put("low", 9);
        pq.Put("high", 1);
        pq.Put("mid", 5);
        pq.Put("new", 7);
        pq.Put("newer", 0);
        Assert.That(dropped, Is.EqualTo(new[] { ("low", 9), ("high", 1) }));
        Assert.That(new[] { pq.Take(), pq.Take(), pq.Take() }, Is.EqualTo(new[] { "newer", "mid", "new" }));
    }

    [Test]
    public void Reject_on_a_priority_queue_keeps_the_queue_and_reports_full()
    {
        var pq = new DualPriorityQueue<string, int>(new DualPriorityQueueOptions<string, int> { Capacity = 1, FullMode = QueueFullMode.Reject });
        pq.Put("a", 5);
        Assert.That(pq.TryPut("b", 0), Is.False);
        Assert.That(() => pq.Put("b", 0), Throws.TypeOf<QueueFullException>());
        Assert.That(pq.Take(), Is.EqualTo("a"));
    }
}
