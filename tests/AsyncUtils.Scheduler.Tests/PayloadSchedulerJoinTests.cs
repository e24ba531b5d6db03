using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

/// <summary>JoinAsync: the join() of the Python library async-utils, with a precise snapshot rule.</summary>
public sealed class PayloadSchedulerJoinTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));

    [Test]
    public async Task Join_completes_once_every_payload_scheduled_before_it_was_delivered()
    {
        using var scheduler = new PayloadScheduler<string>(_time);
        scheduler.Schedule(TimeSpan.FromSeconds(1), "a");
        scheduler.Schedule(TimeSpan.FromSeconds(2), "b");
        scheduler.Schedule(TimeSpan.FromSeconds(3), "c");
        Task join = scheduler.JoinAsync();
        await using IAsyncEnumerator<string> consumer = scheduler.GetAsyncEnumerator();

        for (int second = 1; second <= 3; second++)
        {
            Task<bool> next = consumer.MoveNextAsync().AsTask();
            _time.Advance(TimeSpan.FromSeconds(1));
            Assert.That(await next.WaitAsync(Bound), Is.True);
            if (second < 3)
            {
                await Task.Delay(10);
                Assert.That(join.IsCompleted, Is.False, $"{3 - second} payload(s) still pending");
            }
        }

        await join.WaitAsync(Bound);
        Assert.That(join.IsCompletedSuccessfully, Is.True);
    }

    [Test]
    public async Task Join_with_nothing_pending_is_already_complete()
    {
        using var scheduler = new PayloadScheduler<int>(_time);
        Assert.That(scheduler.JoinAsync().IsCompletedSuccessfully, Is.True);

        scheduler.Schedule(TimeSpan.Zero, 1);
        await using IAsyncEnumerator<int> consumer = scheduler.GetAsyncEnumerator();
        Assert.That(await consumer.MoveNextAsync(), Is.True);
        Assert.That(scheduler.JoinAsync().IsCompletedSuccessfully, Is.True, "delivered payloads are not waited for");
    }

    [Test]
    public async Task Cancelled_payloads_count_as_done()
    {
        using var scheduler = new PayloadScheduler<string>(_time);
        ScheduledPayload<string> a = scheduler.Schedule(TimeSpan.FromSeconds(1), "a");
        ScheduledPayload<string> b = scheduler.Schedule(TimeSpan.FromSeconds(2), "b");
        Task join = scheduler.JoinAsync();

        a.Cancel();
        Assert.That(join.IsCompleted, Is.False);
        b.Cancel();
        await join.WaitAsync(Bound);
        Assert.That(join.IsCompletedSuccessfully, Is.True);
    }

    [Test]
    public async Task Payloads_scheduled_after_the_join_do_not_delay_it_even_when_due_earlier()
    {
        using var scheduler = new PayloadScheduler<string>(_time);
        scheduler.Schedule(TimeSpan.FromSeconds(5), "before");
        Task join = scheduler.JoinAsync();
        scheduler.Schedule(TimeSpan.FromSeconds(1), "after, due earlier");
        scheduler.Schedule(TimeSpan.FromHours(1), "after, due much later");
        await using IAsyncEnumerator<string> consumer = scheduler.GetAsyncEnumerator();

        Task<bool> next = consumer.MoveNextAsync().AsTask();
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(await next.WaitAsync(Bound), Is.True);
        Assert.That(consumer.Current, Is.EqualTo("after, due earlier"));
        await Task.Delay(10);
        Assert.That(join.IsCompleted, Is.False, "the payload scheduled before the join is still pending");

        next = consumer.MoveNextAsync().AsTask();
        _time.Advance(TimeSpan.FromSeconds(4));
        Assert.That(await next.WaitAsync(Bound), Is.True);
        Assert.That(consumer.Current, Is.EqualTo("before"));
        await join.WaitAsync(Bound);
        Assert.That(scheduler.Count, Is.EqualTo(1), "the later payload is still pending, and the join did not wait for it");
    }

    [Test]
    public async Task A_rescheduled_payload_is_still_waited_for_at_its_new_time()
    {
        using var scheduler = new PayloadScheduler<string>(_time);
        ScheduledPayload<string> a = scheduler.Schedule(TimeSpan.FromSeconds(1), "a");
        Task join = scheduler.JoinAsync();
        Assert.That(a.Reschedule(TimeSpan.FromSeconds(5)), Is.True);
        await using IAsyncEnumerator<string> consumer = scheduler.GetAsyncEnumerator();

        Task<bool> next = consumer.MoveNextAsync().AsTask();
        _time.Advance(TimeSpan.FromSeconds(1));
        await Task.Delay(10);
        Assert.That(next.IsCompleted || join.IsCompleted, Is.False);
        _time.Advance(TimeSpan.FromSeconds(4));
        Assert.That(await next.WaitAsync(Bound), Is.True);
        await join.WaitAsync(Bound);
    }

    [Test]
    public async Task A_due_payload_no_consumer_took_is_still_waited_for()
    {
        using var scheduler = new PayloadScheduler<int>(_time);
        scheduler.Schedule(TimeSpan.Zero, 1);
        Task join = scheduler.JoinAsync();
        _time.Advance(TimeSpan.FromMinutes(1));
        await Task.Delay(10);
        Assert.That(join.IsCompleted, Is.False, "due, but not delivered");

        await using IAsyncEnumerator<int> consumer = scheduler.GetAsyncEnumerator();
        Assert.That(await consumer.MoveNextAsync(), Is.True);
        await join.WaitAsync(Bound);
    }

    [Test]
    public async Task Joins_made_at_different_times_each_wait_for_their_own_payloads()
    {
        using var scheduler = new PayloadScheduler<string>(_time);
        ScheduledPayload<string> a = scheduler.Schedule(TimeSpan.FromSeconds(10), "a");
        Task first = scheduler.JoinAsync();
        ScheduledPayload<string> b = scheduler.Schedule(TimeSpan.FromSeconds(20), "b");
        Task second = scheduler.JoinAsync();
        Task third = scheduler.JoinAsync();
        scheduler.Schedule(TimeSpan.FromSeconds(30), "c");

        b.Cancel();
        await Task.Delay(10);
        Assert.That(first.IsCompleted || second.IsCompleted || third.IsCompleted, Is.False, "a is pending for all of them");
        a.Cancel();
        await Task.WhenAll(first, second, third).WaitAsync(Bound);
        Assert.That(scheduler.WaitingJoins, Is.Zero);
        Assert.That(scheduler.JoinAsync().IsCompleted, Is.False, "c is pending for a new join");
    }

    [Test]
    public async Task Dispose_completes_every_join()
    {
        var scheduler = new PayloadScheduler<int>(_time);
        scheduler.Schedule(TimeSpan.FromSeconds(1), 1);
        Task join = scheduler.JoinAsync();
        scheduler.Dispose();
        await join.WaitAsync(Bound);
        Assert.That(join.IsCompletedSuccessfully, Is.True);
        Assert.That(scheduler.JoinAsync().IsCompletedSuccessfully, Is.True, "nothing is pending on a disposed scheduler");
    }

    [Test]
    public async Task Complete_does_not_by_itself_complete_a_join()
    {
        using var scheduler = new PayloadScheduler<int>(_time);
        scheduler.Schedule(TimeSpan.FromSeconds(1), 1);
        Task join = scheduler.JoinAsync();
        scheduler.Complete();
        await Task.Delay(10);
        Assert.That(join.IsCompleted, Is.False);

        var delivered = new List<int>();
        Task consume = Task.Run(async () =>
        {
            await foreach (int payload in scheduler)
            {
                delivered.Add(payload);
            }
        });
        _time.Advance(TimeSpan.FromSeconds(1));
        await Task.WhenAll(consume, join).WaitAsync(Bound);
        Assert.That(delivered, Is.EqualTo(new[] { 1 }));
    }

    [Test]
    public async Task Cancelling_a_join_ends_only_that_wait()
    {
        using var scheduler = new PayloadScheduler<int>(_time);
        scheduler.Schedule(TimeSpan.FromSeconds(1), 1);
        using var cts = new CancellationTokenSource();
        Task cancelled = scheduler.JoinAsync(cts.Token);
        Task other = scheduler.JoinAsync();

        cts.Cancel();
        var thrown = await Assert.ThrowsAsync<TaskCanceledException>(() => cancelled.WaitAsync(Bound));
        Assert.That(thrown!.CancellationToken, Is.EqualTo(cts.Token));
        Assert.That(scheduler.Count, Is.EqualTo(1), "the payload is untouched");
        Assert.That(other.IsCompleted, Is.False);
        Assert.That(scheduler.WaitingJoins, Is.EqualTo(1), "the cancelled join left nothing behind");

        await using IAsyncEnumerator<int> consumer = scheduler.GetAsyncEnumerator();
        Task<bool> next = consumer.MoveNextAsync().AsTask();
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(await next.WaitAsync(Bound), Is.True);
        await other.WaitAsync(Bound);
        Assert.That(scheduler.JoinAsync(new CancellationToken(canceled: true)).IsCanceled, Is.True);
    }

    [Test]
    public async Task Joins_completed_on_a_long_lived_token_leave_no_registration_on_it()
    {
        using var lifetime = new CancellationTokenSource();
        using var scheduler = new PayloadScheduler<int>(_time);
        await using IAsyncEnumerator<int> consumer = scheduler.GetAsyncEnumerator();
        var budget = Stopwatch.StartNew();
        for (int i = 0; i < 2000 && budget.Elapsed < TimeSpan.FromSeconds(3); i++)
        {
            scheduler.Schedule(TimeSpan.Zero, i);
            Task join = scheduler.JoinAsync(lifetime.Token);
            Task<bool> next = consumer.MoveNextAsync().AsTask();
            Assert.That(await next.WaitAsync(Bound), Is.True);
            await join.WaitAsync(Bound);
        }

        lifetime.Cancel();
        Assert.That(scheduler.JoinCancellationCallbacks, Is.Zero);
        Assert.That(scheduler.WaitingJoins, Is.Zero);
    }

    [Test]
    public async Task Joins_racing_deliveries_and_cancellations_always_complete()
    {
        // Producers schedule, a consumer takes, a canceller cancels, and joins are made all along;
        // every join must complete, and only once its own payloads are gone.
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var scheduler = new PayloadScheduler<int>(time);
        var budget = Stopwatch.StartNew();
        var handles = new System.Collections.Concurrent.ConcurrentQueue<ScheduledPayload<int>>();
        var scheduled = new List<ScheduledPayload<int>>();
        var joins = new List<Task<int>>();
        Task consume = Task.Run(async () =>
        {
            await foreach (int _ in scheduler)
            {
            }
        });
        bool producing = true;
        Task cancel = Task.Run(() =>
        {
            while (Volatile.Read(ref producing) || !handles.IsEmpty)
            {
                if (handles.TryDequeue(out ScheduledPayload<int>? handle) && handle.DueTime.Ticks % 3 == 0)
                {
                    handle.Cancel();
                }
            }
        });

        for (int i = 0; i < 20_000 && budget.Elapsed < TimeSpan.FromSeconds(2); i++)
        {
            ScheduledPayload<int> handle = scheduler.Schedule(TimeSpan.FromTicks(i % 7), i);
            scheduled.Add(handle);
            handles.Enqueue(handle);
            if (i % 100 == 0)
            {
                // When the join completes, none of the payloads scheduled before it may still be pending.
                ScheduledPayload<int>[] before = [.. scheduled];
                joins.Add(scheduler.JoinAsync().ContinueWith(
                    _ => before.Count(h => h.State == ScheduledPayloadState.Pending),
                    CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default));
            }

            if (i % 50 == 0)
            {
                time.Advance(TimeSpan.FromTicks(7));
            }
        }

        Volatile.Write(ref producing, false);
        time.Advance(TimeSpan.FromSeconds(1));
        await cancel.WaitAsync(Bound);
        int[] stillPending = await Task.WhenAll(joins).WaitAsync(Bound);
        Assert.That(stillPending.Sum(), Is.Zero, "a join completed while a payload it waited for was pending");
        scheduler.Complete();
        await consume.WaitAsync(Bound);
        Assert.That(scheduler.WaitingJoins, Is.Zero);
    }
}
