using System.Threading.Channels;

namespace AsyncUtils.Tests;

/// <summary>Issue 11, item 12: the Reader views peek at the item a take would return next.</summary>
public sealed class PeekTests
{
    [Test]
    public void The_reader_of_a_DualQueue_peeks_at_its_head_without_taking_it()
    {
        var q = new DualQueue<int>();
        ChannelReader<int> reader = q.Reader;
        Assert.That(reader.CanPeek, Is.True);
        q.Put(1);
        q.Put(2);
        q.Put(3);

        Assert.That(reader.TryPeek(out int first), Is.True);
        Assert.That(first, Is.EqualTo(1));
        Assert.That(reader.TryPeek(out int again), Is.True);
        Assert.That(again, Is.EqualTo(1), "peeking twice sees the same item");
        Assert.That(q.Count, Is.EqualTo(3), "nothing was taken");
        Assert.That(q.Take(), Is.EqualTo(1));
        Assert.That(reader.TryPeek(out int second), Is.True);
        Assert.That(second, Is.EqualTo(2));
    }

    [Test]
    public void The_reader_of_a_DualStack_peeks_at_its_top()
    {
        var s = new DualStack<string>();
        s.Put("a");
        s.Put("b");
        s.Put("c");

        Assert.That(s.Reader.CanPeek, Is.True);
        Assert.That(s.Reader.TryPeek(out string? top), Is.True);
        Assert.That(top, Is.EqualTo("c"));
        Assert.That(s.Count, Is.EqualTo(3));
        Assert.That(s.Take(), Is.EqualTo("c"));
        Assert.That(s.Reader.TryPeek(out string? next), Is.True);
        Assert.That(next, Is.EqualTo("b"));
    }

    [Test]
    public void The_reader_of_a_DualPriorityQueue_peeks_at_the_smallest_priority_and_the_oldest_of_equals()
    {
        var q = new DualPriorityQueue<string, int>();
        q.Put("late", 5);
        q.Put("first of two", 1);
        q.Put("second of two", 1);
        q.Put("low", 9);

        Assert.That(q.Reader.CanPeek, Is.True);
        Assert.That(q.Reader.TryPeek(out string? min), Is.True);
        Assert.That(min, Is.EqualTo("first of two"));
        Assert.That(q.Count, Is.EqualTo(4));
        Assert.That(q.Take(), Is.EqualTo("first of two"));
        Assert.That(q.Reader.TryPeek(out string? next), Is.True);
        Assert.That(next, Is.EqualTo("second of two"));
        q.Put("urgent", 0);
        Assert.That(q.Reader.TryPeek(out string? urgent), Is.True);
        Assert.That(urgent, Is.EqualTo("urgent"));
    }

    [Test]
    public void Peeking_an_empty_queue_fails_with_the_default_value()
    {
        var q = new DualQueue<string>();
        Assert.That(q.Reader.TryPeek(out string? none), Is.False);
        Assert.That(none, Is.Null);
        q.Put("x");
        q.Take();
        Assert.That(q.Reader.TryPeek(out none), Is.False);
        Assert.That(none, Is.Null);
    }

    [Test]
    public void A_completed_queue_can_still_be_peeked_until_it_is_drained()
    {
        var q = new DualStack<int>();
        q.Put(7);
        q.Complete();
        Assert.That(q.Reader.TryPeek(out int item), Is.True);
        Assert.That(item, Is.EqualTo(7));
        Assert.That(q.Completion.IsCompleted, Is.False, "a peek does not drain");
        Assert.That(q.Take(), Is.EqualTo(7));
        Assert.That(q.Reader.TryPeek(out _), Is.False);
    }

    [Test]
    public async Task Peeking_a_full_queue_leaves_its_waiting_putters_waiting()
    {
        var q = new DualQueue<int>(capacity: 1);
        q.Put(1);
        ValueTask put = q.PutAsync(2);
        Assert.That(q.Reader.TryPeek(out int head), Is.True);
        Assert.That(head, Is.EqualTo(1));
        Assert.That(q.WaitingPutters, Is.EqualTo(1));
        Assert.That(put.IsCompleted, Is.False);
        Assert.That(q.Take(), Is.EqualTo(1));
        await put.Bounded();
        Assert.That(q.Reader.TryPeek(out head), Is.True);
        Assert.That(head, Is.EqualTo(2));
    }

    [Test]
    public async Task Peeks_racing_puts_and_takes_see_the_head_of_a_fifo_queue_only_move_forward()
    {
        // One producer puts 0..N-1 in order, one consumer takes them, and a third thread peeks.
        // Under FIFO the head only moves forward, so a consistent (locked) peek never sees a
        // value smaller than one it saw before, never sees a torn or default slot, and never
        // takes anything: the consumer still receives every item in order.
        const int N = 100_000;
        var q = new DualQueue<int>(capacity: 64);
        using var done = new CancellationTokenSource();
        Task producer = TestHelpers.OnThread(() =>
        {
            for (int i = 0; i < N; i++)
            {
                q.Put(i + 1);
            }
        });
        Task<bool> consumer = TestHelpers.OnThread(() =>
        {
            for (int i = 0; i < N; i++)
            {
                if (q.Take() != i + 1)
                {
                    return false;
                }
            }

            return true;
        });
        Task<(int Peeks, string? Fault)> peeker = TestHelpers.OnThread(() =>
        {
            int last = 0;
            int peeks = 0;
            while (!done.IsCancellationRequested)
            {
                if (q.Reader.TryPeek(out int head))
                {
                    peeks++;
                    if (head < last || head < 1 || head > N)
                    {
                        return (peeks, $"peeked {head} after {last}");
                    }

                    last = head;
                }
            }

            return (peeks, (string?)null);
        });

        await producer.Bounded();
        Assert.That(await consumer.Bounded(), Is.True, "every item was taken in order");
        await done.CancelAsync();
        (int peeks, string? fault) = await peeker.Bounded();
        Assert.That(fault, Is.Null);
        Assert.That(peeks, Is.Positive);
        Assert.That(q.Count, Is.Zero);
    }
}
