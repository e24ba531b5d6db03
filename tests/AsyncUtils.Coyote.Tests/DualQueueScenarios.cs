using AsyncUtils;

namespace AsyncUtils.Coyote.Tests;


/// <summary>The dual queues' put/take/cancel: an item goes to exactly one taker, or stays queued.</summary>
public sealed class DualQueueScenarios
{
    // The race explored is the item's hand-over against the cancellation callback's removal. The
    // waits are turned into tasks (AsTask) so that their continuations, which dispose the
    // cancellation registration, run outside Coyote's control: that Dispose blocks until a
    // running callback has finished, and a callback that Coyote paused would never finish (a hang
    // of Coyote's own making, reported as a deadlock).
    [Test]
    public void Takers_cancelled_while_items_arrive_neither_lose_nor_duplicate_an_item()
    {
        CoyoteRunner.AssertNoBug(Budget.DualColor, async () =>
        {
            var queue = new DualQueue<int>();
            using var cancel = new CancellationTokenSource();
            Task<int> first = TakeTask(queue, cancel.Token);
            Task<int> second = TakeTask(queue, CancellationToken.None);
            await Task.WhenAll(
                Task.Run(() => queue.TryPut(1)),
                Task.Run(() => queue.TryPut(2)),
                Task.Run(cancel.Cancel));

            await Check.Settled(first, "the cancellable taker");
            var seen = new List<int>();
            try
            {
                seen.Add(await first);
            }
            catch (OperationCanceledException)
            {
            }

            await Check.Settled(second, "the taker that was not cancelled"); // it must get an item
            seen.Add(await second);
            while (queue.TryTake(out int rest))
            {
                seen.Add(rest);
            }

            seen.Sort();
            Check.Equal("1,2", string.Join(",", seen), "items taken or left, each exactly once");
            Check.Equal(0, queue.WaitingTakers, "waiting takers");
        });
    }

    [Test]
    public void Putter_cancelled_while_a_taker_frees_room_neither_loses_nor_duplicates_an_item()
    {
        CoyoteRunner.AssertNoBug(Budget.DualColor, async () =>
        {
            var queue = new DualQueue<int>(capacity: 1);
            Check.That(queue.TryPut(1), "room for the first item");
            using var cancel = new CancellationTokenSource();
            Task put = PutTask(queue, 2, cancel.Token);
            Task<int> take = Task.Run(() => TakeTask(queue, CancellationToken.None));
            await Task.Run(cancel.Cancel);
            await Check.Settled(take, "the taker");
            await Check.Settled(put, "the cancellable putter");
            bool putAccepted;
            try
            {
                await put;
                putAccepted = true;
            }
            catch (OperationCanceledException)
            {
                putAccepted = false;
            }

            var seen = new List<int> { await take };
            while (queue.TryTake(out int rest))
            {
                seen.Add(rest);
            }

            seen.Sort();
            Check.Equal(putAccepted ? "1,2" : "1", string.Join(",", seen), "items taken or left, each exactly once");
            Check.Equal(0, queue.WaitingPutters, "waiting putters");
            Check.Equal(0, queue.Count, "count");
        });
    }

    [Test]
    public void Stack_takers_cancelled_while_items_arrive_neither_lose_nor_duplicate_an_item()
    {
        CoyoteRunner.AssertNoBug(Budget.DualColor, async () =>
        {
            var stack = new DualStack<int>();
            using var cancel = new CancellationTokenSource();
            Task<int> first = TakeTask(stack, cancel.Token);
            await Task.WhenAll(
                Task.Run(() => stack.TryPut(1)),
                Task.Run(() => stack.TryPut(2)),
                Task.Run(cancel.Cancel));

            await Check.Settled(first, "the cancellable taker");
            var seen = new List<int>();
            try
            {
                seen.Add(await first);
            }
            catch (OperationCanceledException)
            {
            }

            while (stack.TryTake(out int rest))
            {
                seen.Add(rest);
            }

            seen.Sort();
            Check.Equal("1,2", string.Join(",", seen), "items taken or left, each exactly once");
            Check.Equal(0, stack.WaitingTakers, "waiting takers");
        });
    }

    // AsTask here, not in the scenarios: Coyote 1.7's rewriter emits invalid IL for an async
    // method that keeps a ValueTask across an await.
    private static Task<int> TakeTask(DualQueue<int> queue, CancellationToken token) => queue.TakeAsync(token).AsTask();

    private static Task<int> TakeTask(DualStack<int> stack, CancellationToken token) => stack.TakeAsync(token).AsTask();

    private static Task PutTask(DualQueue<int> queue, int item, CancellationToken token) => queue.PutAsync(item, token).AsTask();
}
