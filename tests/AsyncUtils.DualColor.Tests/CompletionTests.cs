using System.Threading.Channels;

namespace AsyncUtils.Tests;

public sealed class CompletionTests
{
    [Test]
    public async Task After_completion_puts_fail_and_the_remaining_items_can_still_be_taken()
    {
        var q = new DualQueue<int>();
        q.Put(1);
        q.Put(2);
        q.Put(3);
        q.Complete();

        Assert.That(q.IsCompleted, Is.True);
        Assert.That(q.TryPut(4), Is.False);
        Assert.That(q.TryPut(4, TimeSpan.FromSeconds(1)), Is.False);
        Assert.That(() => q.Put(4), Throws.TypeOf<QueueCompletedException>());
        Assert.That(async () => await q.PutAsync(4), Throws.TypeOf<QueueCompletedException>());
        Assert.That(q.Completion.IsCompleted, Is.False, "items remain");

        Assert.That(q.Take(), Is.EqualTo(1));
        Assert.That(await q.TakeAsync(), Is.EqualTo(2));
        Assert.That(q.TryTake(out int third), Is.True);
        Assert.That(third, Is.EqualTo(3));

        await q.Completion.Bounded();
        Assert.That(() => q.Take(), Throws.TypeOf<QueueCompletedException>().With.InnerException.Null);
        Assert.That(async () => await q.TakeAsync(), Throws.TypeOf<QueueCompletedException>());
        Assert.That(q.TryTake(out _), Is.False);
        Assert.That(q.TryTake(out _, TimeSpan.FromSeconds(5)), Is.False, "returns at once: nothing more can come");
    }

    [Test]
    public async Task Completing_an_empty_queue_ends_waiting_takers_of_both_colors()
    {
        var q = new DualQueue<int>();
        Task<Exception?> blocking = TestHelpers.OnThread(() => Catch(() => q.Take()));
        Task<bool> blockingTry = TestHelpers.OnThread(() => q.TryTake(out _, Timeout.InfiniteTimeSpan));
        ValueTask<int> awaiting = q.TakeAsync();
        TestHelpers.WaitUntil(() => q.WaitingTakers == 3, "three takers wait");

        q.Complete();

        Assert.That(await blocking.Bounded(), Is.TypeOf<QueueCompletedException>().With.InnerException.Null);
        Assert.That(await blockingTry.Bounded(), Is.False);
        Assert.That(async () => await awaiting.Bounded(), Throws.TypeOf<QueueCompletedException>().With.InnerException.Null);
        Assert.That(q.WaitingTakers, Is.Zero);
        await q.Completion.Bounded();
    }

    [Test]
    public async Task Completing_with_an_error_passes_it_to_takers_of_both_colors_and_to_Completion()
    {
        var q = new DualStack<int>();
        var error = new TimeoutException("the producer died");
        Task<Exception?> blocking = TestHelpers.OnThread(() => Catch(() => q.Take()));
        ValueTask<int> awaiting = q.TakeAsync();
        TestHelpers.WaitUntil(() => q.WaitingTakers == 2, "two takers wait");

        q.Complete(error);

        Assert.That((await blocking.Bounded())?.InnerException, Is.SameAs(error));
        var thrown = await Assert.ThrowsAsync<QueueCompletedException>(async () => await awaiting.Bounded());
        Assert.That(thrown!.InnerException, Is.SameAs(error));
        Assert.That(async () => await q.Completion.Bounded(), Throws.TypeOf<TimeoutException>());
        Assert.That(() => q.Put(1), Throws.TypeOf<QueueCompletedException>().With.InnerException.SameAs(error));
    }

    [Test]
    public async Task Completing_a_full_queue_fails_its_waiting_putters_of_both_colors_and_keeps_its_items()
    {
        var q = new DualQueue<int>(capacity: 1);
        q.Put(1);
        Task<Exception?> blocking = TestHelpers.OnThread(() => Catch(() => q.Put(2)));
        Task<bool> blockingTry = TestHelpers.OnThread(() => q.TryPut(3, Timeout.InfiniteTimeSpan));
        ValueTask awaiting = q.PutAsync(4);
        TestHelpers.WaitUntil(() => q.WaitingPutters == 3, "three putters wait");

        q.Complete();

        Assert.That(await blocking.Bounded(), Is.TypeOf<QueueCompletedException>());
        Assert.That(await blockingTry.Bounded(), Is.False);
        Assert.That(async () => await awaiting.Bounded(), Throws.TypeOf<QueueCompletedException>());
        Assert.That(q.WaitingPutters, Is.Zero);
        Assert.That(q.Take(), Is.EqualTo(1));
        Assert.That(q.TryTake(out _), Is.False, "the failed putters' items never went in");
        await q.Completion.Bounded();
    }

    [Test]
    public void Completing_twice_throws_while_TryComplete_reports_it()
    {
        var q = new DualQueue<int>();
        Assert.That(q.TryComplete(), Is.True);
        Assert.That(q.TryComplete(new InvalidOperationException()), Is.False);
        Assert.That(() => q.Complete(), Throws.InvalidOperationException);
        Assert.That(q.Completion.IsCompletedSuccessfully, Is.True, "the first completion stands");
    }

    [Test]
    public async Task Completion_finishes_when_the_last_item_is_taken_after_completion()
    {
        var q = new DualPriorityQueue<string, int>();
        q.Put("b", 2);
        q.Put("a", 1);
        Task completion = q.Completion;
        q.Complete();
        Assert.That(completion.IsCompleted, Is.False);
        Assert.That(q.Take(), Is.EqualTo("a"));
        Assert.That(completion.IsCompleted, Is.False);
        Assert.That(await q.TakeAsync(), Is.EqualTo("b"));
        await completion.Bounded();
    }

    [Test]
    public async Task ReadAllAsync_yields_every_item_then_ends_when_completed()
    {
        var q = new DualQueue<int>();
        var read = new List<int>();
        Task reader = Task.Run(async () =>
        {
            await foreach (int x in q.ReadAllAsync())
            {
                read.Add(x);
            }
        });
        for (int i = 0; i < 100; i++)
        {
            q.Put(i);
        }

        q.Complete();
        await reader.Bounded();
        Assert.That(read, Is.EqualTo(Enumerable.Range(0, 100)));
    }

    [Test]
    public async Task ReadAllAsync_throws_the_completion_error_after_the_items()
    {
        var q = new DualQueue<int>();
        q.Put(1);
        var error = new FormatException();
        q.Complete(error);
        var read = new List<int>();
        var thrown = await Assert.ThrowsAsync<QueueCompletedException>(async () =>
        {
            await foreach (int x in q.ReadAllAsync())
            {
                read.Add(x);
            }
        });
        Assert.That(thrown!.InnerException, Is.SameAs(error));
        Assert.That(read, Is.EqualTo(new[] { 1 }));
    }

    [Test]
    public async Task ReadAllAsync_stops_when_its_token_is_cancelled()
    {
        var q = new DualQueue<int>();
        using var cts = new CancellationTokenSource();
        Task reader = Task.Run(async () =>
        {
            await foreach (int x in q.ReadAllAsync().WithCancellation(cts.Token))
            {
            }
        });
        TestHelpers.WaitUntil(() => q.WaitingTakers == 1, "the reader waits");
        cts.Cancel();
        Assert.That(async () => await reader.Bounded(), Throws.InstanceOf<OperationCanceledException>());
        q.Put(5);
        Assert.That(q.Count, Is.EqualTo(1), "the cancelled reader took nothing");
    }

    [Test]
    public async Task GetConsumingEnumerable_yields_every_item_then_ends_or_throws_the_error()
    {
        var q = new DualQueue<int>(capacity: 4);
        Task<List<int>> consumer = TestHelpers.OnThread(() => q.GetConsumingEnumerable().ToList());
        for (int i = 0; i < 50; i++)
        {
            await q.PutAsync(i);
        }

        q.Complete();
        Assert.That(await consumer.Bounded(), Is.EqualTo(Enumerable.Range(0, 50)));

        var failed = new DualQueue<int>();
        failed.Put(1);
        var error = new DivideByZeroException();
        failed.Complete(error);
        var seen = new List<int>();
        Assert.That(() => { foreach (int x in failed.GetConsumingEnumerable()) { seen.Add(x); } },
            Throws.TypeOf<QueueCompletedException>().With.InnerException.SameAs(error));
        Assert.That(seen, Is.EqualTo(new[] { 1 }));
    }

    [Test]
    public void The_completed_exception_is_a_channel_closed_exception_and_an_invalid_operation()
    {
        var e = new QueueCompletedException();
        Assert.That(e, Is.InstanceOf<ChannelClosedException>());
        Assert.That(e, Is.InstanceOf<InvalidOperationException>());
        Assert.That(new QueueFullException("x", e).InnerException, Is.SameAs(e));
        Assert.That(new QueueFullException().Message, Is.Not.Empty);
        Assert.That(new QueueCompletedException("m").Message, Is.EqualTo("m"));
    }

    private static Exception? Catch(Action action)
    {
        try
        {
            action();
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }
}
