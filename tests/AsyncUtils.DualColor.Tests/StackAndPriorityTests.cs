namespace AsyncUtils.Tests;

public sealed class StackAndPriorityTests
{
    [Test]
    public async Task A_stack_gives_the_newest_item_first_in_every_take_form()
    {
        var s = new DualStack<int>();
        for (int i = 1; i <= 4; i++)
        {
            await s.PutAsync(i);
        }

        Assert.That(s.TryTake(out int a), Is.True);
        int b = s.Take();
        int c = await s.TakeAsync();
        Assert.That(s.TryTake(out int d, TimeSpan.Zero), Is.True);
        Assert.That(new[] { a, b, c, d }, Is.EqualTo(new[] { 4, 3, 2, 1 }));
    }

    [Test]
    public void A_stack_grows_past_its_initial_buffer_with_the_bottom_moving()
    {
        // Interleaved drops from the bottom (DropOldest) and pops from the top wrap the ring buffer.
        var dropped = new List<int>();
        var s = new DualStack<int>(new DualQueueOptions<int> { Capacity = 100, FullMode = QueueFullMode.DropOldest, OnDropped = dropped.Add });
        for (int i = 0; i < 250; i++)
        {
            s.Put(i);
        }

        Assert.That(dropped, Is.EqualTo(Enumerable.Range(0, 150)));
        var popped = new List<int>();
        while (s.TryTake(out int x))
        {
            popped.Add(x);
        }

        Assert.That(popped, Is.EqualTo(Enumerable.Range(150, 100).Reverse()));
    }

    [Test]
    public async Task A_stack_serves_its_waiters_fairly_while_its_items_are_last_in_first_out()
    {
        var s = new DualStack<int>(capacity: 1);
        s.Put(0);
        Task first = TestHelpers.OnThread(() => s.Put(1));
        TestHelpers.WaitUntil(() => s.WaitingPutters == 1, "first putter waits");
        ValueTask second = s.PutAsync(2);
        TestHelpers.WaitUntil(() => s.WaitingPutters == 2, "second putter waits");
        Assert.That(s.Take(), Is.EqualTo(0));
        await first.Bounded();
        Assert.That(await s.TakeAsync(), Is.EqualTo(1), "the first waiting putter's item went in first");
        await second.Bounded();
        Assert.That(s.Take(), Is.EqualTo(2));
    }

    [Test]
    public async Task A_priority_queue_gives_the_smallest_priority_first_and_equal_priorities_in_order()
    {
        var pq = new DualPriorityQueue<string, int>();
        pq.Put("c1", 3);
        pq.Put("a1", 1);
        await pq.PutAsync("b1", 2);
        pq.Put("a2", 1);
        Assert.That(pq.TryPut("c2", 3), Is.True);
        pq.Put("a3", 1);
        var taken = new List<string>();
        while (pq.TryTake(out string? e))
        {
            taken.Add(e);
        }

        Assert.That(taken, Is.EqualTo(new[] { "a1", "a2", "a3", "b1", "c1", "c2" }));
    }

    [Test]
    public void A_priority_queue_uses_the_given_comparer()
    {
        var pq = new DualPriorityQueue<string, int>(new DualPriorityQueueOptions<string, int> { Comparer = Comparer<int>.Create((x, y) => y.CompareTo(x)) });
        pq.Put("low", 1);
        pq.Put("high", 10);
        pq.Put("mid", 5);
        Assert.That(new[] { pq.Take(), pq.Take(), pq.Take() }, Is.EqualTo(new[] { "high", "mid", "low" }));
        Assert.That(new DualPriorityQueue<int, int>().Comparer, Is.SameAs(Comparer<int>.Default));
    }

    [Test]
    public void A_priority_queue_matches_a_sorted_reference_over_random_operations()
    {
        var random = new Random(12345);
        var pq = new DualPriorityQueue<int, int>(capacity: 64);
        var reference = new List<(int Priority, long Seq, int Element)>();
        long seq = 0;
        for (int step = 0; step < 20_000; step++)
        {
            if (random.Next(2) == 0)
            {
                int element = random.Next();
                int priority = random.Next(10);
                bool put = pq.TryPut(element, priority);
                Assert.That(put, Is.EqualTo(reference.Count < 64));
                if (put)
                {
                    reference.Add((priority, seq++, element));
                }
            }
            else
            {
                bool took = pq.TryTake(out int element);
                Assert.That(took, Is.EqualTo(reference.Count > 0));
                if (took)
                {
                    var min = reference.Min();
                    reference.Remove(min);
                    Assert.That(element, Is.EqualTo(min.Element));
                }
            }

            Assert.That(pq.Count, Is.EqualTo(reference.Count));
        }
    }

    [Test]
    public async Task A_priority_queue_hands_a_put_straight_to_a_waiting_taker_of_either_color()
    {
        var pq = new DualPriorityQueue<string, int>();
        Task<string> blocking = TestHelpers.OnThread(() => pq.Take());
        TestHelpers.WaitUntil(() => pq.WaitingTakers == 1, "blocking taker waits");
        ValueTask<string> awaiting = pq.TakeAsync();
        pq.Put("first", 9);
        pq.Put("second", 0);
        Assert.That(await blocking.Bounded(), Is.EqualTo("first"));
        Assert.That(await awaiting.Bounded(), Is.EqualTo("second"));
        Assert.That(pq.TryTake(out _, TimeSpan.Zero), Is.False);
    }

    [Test]
    public async Task A_priority_queue_reads_as_an_async_and_a_blocking_enumerable()
    {
        var pq = new DualPriorityQueue<int, int>();
        for (int i = 0; i < 10; i++)
        {
            pq.Put(i, -i);
        }

        pq.Complete();
        var read = new List<int>();
        await foreach (int x in pq.ReadAllAsync())
        {
            read.Add(x);
            if (read.Count == 5)
            {
                break;
            }
        }

        read.AddRange(pq.GetConsumingEnumerable());
        Assert.That(read, Is.EqualTo(Enumerable.Range(0, 10).Reverse()));
    }
}
