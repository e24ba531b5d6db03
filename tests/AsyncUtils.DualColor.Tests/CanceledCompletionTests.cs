using System.Threading.Channels;

namespace AsyncUtils.Tests;

/// <summary>
/// Issue 11, item 13: a queue completed with an <see cref="OperationCanceledException"/> ends as
/// a channel does: <c>Completion</c> is Canceled, and every call that would report the queue
/// closed, on the views and on the queue's own API, throws that exception itself instead of a
/// <see cref="QueueCompletedException"/> wrapping it.
/// </summary>
public sealed class CanceledCompletionTests
{
    [Test]
    public async Task Completing_with_an_OperationCanceledException_ends_Completion_as_Canceled_with_its_token()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        var q = new DualQueue<int>();
        Task completion = q.Reader.Completion;
        q.Writer.Complete(new OperationCanceledException(cts.Token));

        Assert.That(completion.IsCanceled, Is.True);
        Assert.That(q.Completion, Is.SameAs(completion));
        var thrown = await Assert.CatchAsync<OperationCanceledException>(async () => await completion.Bounded());
        Assert.That(thrown!.CancellationToken, Is.EqualTo(cts.Token));
    }

    [Test]
    public void Completion_asked_for_only_after_a_canceled_completion_is_Canceled_too()
    {
        var s = new DualStack<int>();
        s.Complete(new TaskCanceledException());
        Assert.That(s.Completion.IsCanceled, Is.True);

        var p = new DualPriorityQueue<int, int>();
        p.Complete(new OperationCanceledException());
        Assert.That(p.Reader.Completion.IsCanceled, Is.True);
    }

    [Test]
    public void A_canceled_completion_is_Canceled_only_once_the_remaining_items_are_taken()
    {
        var q = new DualQueue<int>();
        q.Put(1);
        Task completion = q.Completion;
        q.Complete(new OperationCanceledException());
        Assert.That(completion.IsCompleted, Is.False);
        Assert.That(q.Reader.TryRead(out int item), Is.True);
        Assert.That(item, Is.EqualTo(1));
        Assert.That(completion.IsCanceled, Is.True);
    }

    [Test]
    public async Task Reader_ReadAsync_throws_that_OperationCanceledException_to_waiting_and_later_readers()
    {
        var q = new DualQueue<int>();
        ValueTask<int> waiting = q.Reader.ReadAsync();
        var stop = new OperationCanceledException("the producer was cancelled");
        q.Writer.Complete(stop);

        var first = await Assert.CatchAsync<OperationCanceledException>(async () => await waiting.Bounded());
        Assert.That(first, Is.SameAs(stop));
        Task<int> later = q.Reader.ReadAsync().AsTask();
        Assert.That(later.IsCanceled, Is.True, "ends Canceled, as a channel's ReadAsync does");
        var second = await Assert.CatchAsync<OperationCanceledException>(async () => await later);
        Assert.That(second, Is.SameAs(stop));
    }

    [Test]
    public async Task A_reader_waiting_when_the_queue_is_canceled_ends_Canceled()
    {
        var q = new DualQueue<int>();
        Task<int> waiting = q.Reader.ReadAsync().AsTask();
        q.Complete(new OperationCanceledException());
        await Task.WhenAny(waiting).Bounded();
        Assert.That(waiting.IsCanceled, Is.True);
    }

    [Test]
    public async Task Reader_ReadAllAsync_ends_with_that_OperationCanceledException_after_the_items()
    {
        var q = new DualStack<int>();
        q.Put(1);
        q.Put(2);
        var stop = new OperationCanceledException();
        q.Writer.Complete(stop);

        var read = new List<int>();
        var thrown = await Assert.CatchAsync<OperationCanceledException>(async () =>
        {
            await foreach (int x in q.Reader.ReadAllAsync())
            {
                read.Add(x);
            }
        });
        Assert.That(thrown, Is.SameAs(stop));
        Assert.That(read, Is.EqualTo(new[] { 2, 1 }));
    }

    [Test]
    public async Task Reader_WaitToReadAsync_throws_that_OperationCanceledException()
    {
        var q = new DualPriorityQueue<int, int>();
        ValueTask<bool> waiting = q.Reader.WaitToReadAsync();
        var stop = new OperationCanceledException();
        q.Complete(stop);
        Assert.That(await Assert.CatchAsync<OperationCanceledException>(async () => await waiting.Bounded()), Is.SameAs(stop));
        Assert.That(await Assert.CatchAsync<OperationCanceledException>(async () => await q.Reader.WaitToReadAsync()), Is.SameAs(stop));
    }

    [Test]
    public async Task Writer_writes_and_waits_to_write_throw_that_OperationCanceledException()
    {
        var q = new DualQueue<int>(capacity: 1);
        q.Put(0);
        ValueTask waitingPut = q.Writer.WriteAsync(1);
        ValueTask<bool> waitingRoom = q.Writer.WaitToWriteAsync();
        var stop = new OperationCanceledException();
        q.Writer.Complete(stop);

        Assert.That(await Assert.CatchAsync<OperationCanceledException>(async () => await waitingPut.Bounded()), Is.SameAs(stop));
        Assert.That(await Assert.CatchAsync<OperationCanceledException>(async () => await waitingRoom.Bounded()), Is.SameAs(stop));
        Assert.That(await Assert.CatchAsync<OperationCanceledException>(async () => await q.Writer.WriteAsync(2)), Is.SameAs(stop));
        Assert.That(await Assert.CatchAsync<OperationCanceledException>(async () => await q.Writer.WaitToWriteAsync()), Is.SameAs(stop));
        Assert.That(q.Writer.TryWrite(3), Is.False);
        Assert.That(q.Take(), Is.EqualTo(0), "the item already in stays readable");
    }

    [Test]
    public async Task The_queues_own_takes_throw_that_OperationCanceledException_of_both_colors()
    {
        var q = new DualQueue<int>();
        Task<Exception?> blocking = TestHelpers.OnThread(() => Catch(() => q.Take()));
        ValueTask<int> awaiting = q.TakeAsync();
        TestHelpers.WaitUntil(() => q.WaitingTakers == 2, "two takers wait");
        var stop = new OperationCanceledException();
        q.Complete(stop);

        Assert.That(await blocking.Bounded(), Is.SameAs(stop));
        Assert.That(await Assert.CatchAsync<OperationCanceledException>(async () => await awaiting.Bounded()), Is.SameAs(stop));
        Assert.That(Catch(() => q.Take()), Is.SameAs(stop));
        Assert.That(await Assert.CatchAsync<OperationCanceledException>(async () => await q.TakeAsync()), Is.SameAs(stop));
        Assert.That(q.TryTake(out _), Is.False);
        Assert.That(q.TryTake(out _, TimeSpan.FromSeconds(5)), Is.False, "the try form still reports completion by returning false");
    }

    [Test]
    public async Task The_queues_own_puts_and_enumerables_throw_that_OperationCanceledException()
    {
        var q = new DualPriorityQueue<string, int>(capacity: 1);
        q.Put("kept", 1);
        Task<Exception?> blockingPut = TestHelpers.OnThread(() => Catch(() => q.Put("blocked", 2)));
        TestHelpers.WaitUntil(() => q.WaitingPutters == 1, "a putter waits");
        var stop = new OperationCanceledException();
        q.Complete(stop);

        Assert.That(await blockingPut.Bounded(), Is.SameAs(stop));
        Assert.That(Catch(() => q.Put("late", 3)), Is.SameAs(stop));
        Assert.That(await Assert.CatchAsync<OperationCanceledException>(async () => await q.PutAsync("late", 3)), Is.SameAs(stop));

        var seen = new List<string>();
        Assert.That(Catch(() =>
        {
            foreach (string x in q.GetConsumingEnumerable())
            {
                seen.Add(x);
            }
        }), Is.SameAs(stop));
        Assert.That(seen, Is.EqualTo(new[] { "kept" }));

        var s = new DualStack<int>();
        s.Complete(stop);
        Assert.That(await Assert.CatchAsync<OperationCanceledException>(async () =>
        {
            await foreach (int x in s.ReadAllAsync())
            {
            }
        }), Is.SameAs(stop));
    }

    [Test]
    public void Other_errors_still_arrive_wrapped_in_a_QueueCompletedException()
    {
        var q = new DualQueue<int>();
        var error = new FormatException();
        q.Complete(error);
        Assert.That(q.Completion.IsFaulted, Is.True);
        Assert.That(async () => await q.Reader.ReadAsync(), Throws.TypeOf<QueueCompletedException>().With.InnerException.SameAs(error));
        Assert.That(() => q.Take(), Throws.TypeOf<QueueCompletedException>().With.InnerException.SameAs(error));
        Assert.That(new QueueCompletedException(), Is.InstanceOf<ChannelClosedException>());
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
