using System.Collections.Concurrent;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class PayloadSchedulerTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));

    [Test]
    public async Task Payloads_come_when_due_in_due_order()
    {
        using var scheduler = new PayloadScheduler<string>(_time);
        scheduler.Schedule(TimeSpan.FromSeconds(3), "c");
        scheduler.Schedule(_time.GetUtcNow().AddSeconds(1), "a");
        scheduler.Schedule(TimeSpan.FromSeconds(2), "b");
        await using IAsyncEnumerator<string> consumer = scheduler.GetAsyncEnumerator();

        Task<bool> next = consumer.MoveNextAsync().AsTask();
        _time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.That(next.IsCompleted, Is.False, "nothing before its time");
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.That(await next.WaitAsync(Bound), Is.True);
        Assert.That(consumer.Current, Is.EqualTo("a"));

        next = consumer.MoveNextAsync().AsTask();
        Assert.That(next.IsCompleted, Is.False);
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.That(await next.WaitAsync(Bound), Is.True);
        Assert.That(consumer.Current, Is.EqualTo("b"));
        Assert.That(await consumer.MoveNextAsync().AsTask().WaitAsync(Bound), Is.True, "c is overdue: it comes at once");
        Assert.That(consumer.Current, Is.EqualTo("c"));
        Assert.That(scheduler.Count, Is.Zero);
    }

    [Test]
    public async Task Payloads_due_at_the_same_time_come_in_scheduling_order()
    {
        using var scheduler = new PayloadScheduler<int>(_time);
        DateTimeOffset due = _time.GetUtcNow().AddMinutes(1);
        for (int i = 0; i < 50; i++)
        {
            scheduler.Schedule(due, i);
        }

        _time.Advance(TimeSpan.FromMinutes(1));
        scheduler.Complete();
        var seen = new List<int>();
        await foreach (int payload in scheduler)
        {
            seen.Add(payload);
        }

        Assert.That(seen, Is.EqualTo(Enumerable.Range(0, 50)));
    }

    [Test]
    public async Task An_overdue_payload_comes_at_once()
    {
        using var scheduler = new PayloadScheduler<string>(_time);
        scheduler.Schedule(_time.GetUtcNow().AddHours(-1), "late");
        await using IAsyncEnumerator<string> consumer = scheduler.GetAsyncEnumerator();
        Task<bool> next = consumer.MoveNextAsync().AsTask();
        Assert.That(next.IsCompletedSuccessfully && next.Result, Is.True);
        Assert.That(consumer.Current, Is.EqualTo("late"));
    }

    [Test]
    public async Task A_payload_cancelled_before_its_time_never_comes_and_is_released_at_once()
    {
        using var scheduler = new PayloadScheduler<object>(_time);
        (ScheduledPayload<object> handle, WeakReference payload) = ScheduleGarbage(scheduler);
        scheduler.Schedule(TimeSpan.FromSeconds(20), "kept");

        Assert.That(handle.Cancel(), Is.True);
        Assert.That(handle.Cancel(), Is.False, "cancelling twice is fine");
        Assert.That(handle.State, Is.EqualTo(ScheduledPayloadState.Cancelled));
        Assert.That(scheduler.Count, Is.EqualTo(1));

        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.That(payload.IsAlive, Is.False, "the scheduler dropped the payload while the handle is still held");
        GC.KeepAlive(handle);

        await using IAsyncEnumerator<object> consumer = scheduler.GetAsyncEnumerator();
        Task<bool> next = consumer.MoveNextAsync().AsTask();
        _time.Advance(TimeSpan.FromSeconds(20));
        Assert.That(await next.WaitAsync(Bound), Is.True);
        Assert.That(consumer.Current, Is.EqualTo("kept"));

        static (ScheduledPayload<object>, WeakReference) ScheduleGarbage(PayloadScheduler<object> scheduler)
        {
            var big = new byte[1024];
            return (scheduler.Schedule(TimeSpan.FromSeconds(10), big), new WeakReference(big));
        }
    }

    [Test]
    public async Task A_payload_cancelled_at_its_due_time_before_anyone_took_it_never_comes()
    {
        using var scheduler = new PayloadScheduler<string>(_time);
        ScheduledPayload<string> first = scheduler.Schedule(TimeSpan.FromSeconds(5), "cancelled");
        scheduler.Schedule(TimeSpan.FromSeconds(5), "second");
        _time.Advance(TimeSpan.FromSeconds(5));

        Assert.That(first.Cancel(), Is.True);
        await using IAsyncEnumerator<string> consumer = scheduler.GetAsyncEnumerator();
        Assert.That(await consumer.MoveNextAsync(), Is.True);
        Assert.That(consumer.Current, Is.EqualTo("second"));
    }

    [Test]
    public async Task Cancelling_after_delivery_returns_false_and_changes_nothing()
    {
        using var scheduler = new PayloadScheduler<string>(_time);
        ScheduledPayload<string> handle = scheduler.Schedule(TimeSpan.Zero, "x");
        await using IAsyncEnumerator<string> consumer = scheduler.GetAsyncEnumerator();
        Assert.That(await consumer.MoveNextAsync(), Is.True);
        Assert.That(handle.State, Is.EqualTo(ScheduledPayloadState.Delivered));
        Assert.That(handle.Cancel(), Is.False);
        Assert.That(handle.Reschedule(TimeSpan.FromSeconds(1)), Is.False);
        Assert.That(handle.State, Is.EqualTo(ScheduledPayloadState.Delivered));
    }

    [Test]
    public async Task An_earlier_payload_arriving_while_the_timer_waits_re_arms_it()
    {
        var clock = new CountingTimeProvider();
        using var scheduler = new PayloadScheduler<string>(clock);
        scheduler.Schedule(TimeSpan.FromSeconds(10), "late");
        await using IAsyncEnumerator<string> consumer = scheduler.GetAsyncEnumerator();
        Task<bool> next = consumer.MoveNextAsync().AsTask();
        Assert.That(clock.Created, Is.EqualTo(1));

        scheduler.Schedule(TimeSpan.FromSeconds(2), "early");
        clock.Fake.Advance(TimeSpan.FromSeconds(2));
        Assert.That(await next.WaitAsync(Bound), Is.True);
        Assert.That(consumer.Current, Is.EqualTo("early"));

        next = consumer.MoveNextAsync().AsTask();
        clock.Fake.Advance(TimeSpan.FromSeconds(7));
        Assert.That(next.IsCompleted, Is.False);
        clock.Fake.Advance(TimeSpan.FromSeconds(1));
        Assert.That(await next.WaitAsync(Bound), Is.True);
        Assert.That(consumer.Current, Is.EqualTo("late"));
        Assert.That(clock.Created, Is.EqualTo(1), "one timer, re-armed");
    }

    [Test]
    public async Task The_timer_fires_only_when_something_is_due_no_polling()
    {
        var clock = new CountingTimeProvider();
        using var scheduler = new PayloadScheduler<int>(clock);
        for (int i = 0; i < 1_000; i++)
        {
            scheduler.Schedule(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(i % 7), i);
        }

        await using IAsyncEnumerator<int> consumer = scheduler.GetAsyncEnumerator();
        Task<bool> next = consumer.MoveNextAsync().AsTask();
        for (int second = 0; second < 599; second++)
        {
            clock.Fake.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.That(clock.Fires, Is.Zero, "nothing woke while nothing was due");
        Assert.That(clock.Created + clock.Changes, Is.LessThanOrEqualTo(2), "armed once for the earliest payload");
        clock.Fake.Advance(TimeSpan.FromSeconds(1));
        Assert.That(await next.WaitAsync(Bound), Is.True);
        Assert.That(clock.Fires, Is.EqualTo(1));
    }

    [Test]
    public async Task A_due_time_beyond_the_single_timer_limit_chains_timers()
    {
        using var scheduler = new PayloadScheduler<string>(_time);
        scheduler.Schedule(TimeSpan.FromDays(120), "far");
        await using IAsyncEnumerator<string> consumer = scheduler.GetAsyncEnumerator();
        Task<bool> next = consumer.MoveNextAsync().AsTask();

        _time.Advance(TimeSpan.FromDays(50));
        Assert.That(next.IsCompleted, Is.False);
        _time.Advance(TimeSpan.FromDays(50));
        Assert.That(next.IsCompleted, Is.False);
        _time.Advance(TimeSpan.FromDays(20) - TimeSpan.FromMilliseconds(1));
        Assert.That(next.IsCompleted, Is.False);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.That(await next.WaitAsync(Bound), Is.True);
        Assert.That(consumer.Current, Is.EqualTo("far"));
    }

    [Test]
    public async Task Reschedule_moves_a_payload_earlier_or_later()
    {
        using var scheduler = new PayloadScheduler<string>(_time);
        ScheduledPayload<string> a = scheduler.Schedule(TimeSpan.FromSeconds(1), "a");
        ScheduledPayload<string> b = scheduler.Schedule(TimeSpan.FromSeconds(5), "b");
        Assert.That(a.Reschedule(TimeSpan.FromSeconds(10)), Is.True);
        Assert.That(b.Reschedule(_time.GetUtcNow().AddSeconds(2)), Is.True);
        Assert.That(b.DueTime, Is.EqualTo(_time.GetUtcNow().AddSeconds(2)));

        await using IAsyncEnumerator<string> consumer = scheduler.GetAsyncEnumerator();
        Task<bool> next = consumer.MoveNextAsync().AsTask();
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.That(await next.WaitAsync(Bound), Is.True);
        Assert.That(consumer.Current, Is.EqualTo("b"));
        next = consumer.MoveNextAsync().AsTask();
        _time.Advance(TimeSpan.FromSeconds(7));
        Assert.That(next.IsCompleted, Is.False);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(await next.WaitAsync(Bound), Is.True);
        Assert.That(consumer.Current, Is.EqualTo("a"));
    }

    [Test]
    public async Task Many_consumers_each_payload_goes_to_exactly_one()
    {
        using var scheduler = new PayloadScheduler<int>(_time);
        var received = new ConcurrentBag<int>();
        var consumers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            await foreach (int payload in scheduler)
            {
                received.Add(payload);
            }
        })).ToArray();

        for (int i = 0; i < 200; i++)
        {
            scheduler.Schedule(TimeSpan.FromSeconds(1 + (i % 10)), i);
        }

        scheduler.Complete();
        for (int s = 0; s < 10; s++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        await Task.WhenAll(consumers).WaitAsync(Bound);
        Assert.That(received.Order(), Is.EqualTo(Enumerable.Range(0, 200)));
    }

    [Test]
    public async Task Completion_while_consumers_wait_ends_their_iteration()
    {
        using var scheduler = new PayloadScheduler<int>(_time);
        var consumers = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            int count = 0;
            await foreach (int payload in scheduler)
            {
                count++;
            }

            return count;
        })).ToArray();

        await Task.Yield();
        scheduler.Complete();
        int[] counts = await Task.WhenAll(consumers).WaitAsync(Bound);
        Assert.That(counts, Is.All.Zero);
        Assert.Throws<InvalidOperationException>(() => scheduler.Schedule(TimeSpan.Zero, 1));
    }

    [Test]
    public async Task Completion_delivers_what_is_pending_before_ending()
    {
        using var scheduler = new PayloadScheduler<int>(_time);
        scheduler.Schedule(TimeSpan.FromSeconds(1), 1);
        ScheduledPayload<int> cancelled = scheduler.Schedule(TimeSpan.FromSeconds(2), 2);
        scheduler.Complete();
        var seen = new List<int>();
        var firstSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task consume = Task.Run(async () =>
        {
            await foreach (int payload in scheduler)
            {
                seen.Add(payload);
                firstSeen.TrySetResult();
            }
        });

        _time.Advance(TimeSpan.FromSeconds(1));
        await firstSeen.Task.WaitAsync(Bound);
        cancelled.Cancel(); // the last pending payload is gone: the iteration ends
        await consume.WaitAsync(Bound);
        Assert.That(seen, Is.EqualTo(new[] { 1 }));
    }

    [Test]
    public async Task Disposal_drops_pending_payloads_and_ends_waiting_consumers()
    {
        var scheduler = new PayloadScheduler<int>(_time);
        ScheduledPayload<int> pending = scheduler.Schedule(TimeSpan.FromSeconds(10), 1);
        await using IAsyncEnumerator<int> consumer = scheduler.GetAsyncEnumerator();
        Task<bool> next = consumer.MoveNextAsync().AsTask();

        scheduler.Dispose();

        Assert.That(await next.WaitAsync(Bound), Is.False);
        Assert.That(pending.State, Is.EqualTo(ScheduledPayloadState.Cancelled));
        Assert.That(scheduler.Count, Is.Zero);
        Assert.Throws<ObjectDisposedException>(() => scheduler.Schedule(TimeSpan.Zero, 2));
        Assert.DoesNotThrow(scheduler.Dispose);
    }

    [Test]
    public async Task A_consumer_that_gives_up_waiting_gets_cancelled_and_the_payload_goes_to_another()
    {
        using var scheduler = new PayloadScheduler<string>(_time);
        using var cts = new CancellationTokenSource();
        await using IAsyncEnumerator<string> quitter = scheduler.GetAsyncEnumerator(cts.Token);
        await using IAsyncEnumerator<string> stayer = scheduler.GetAsyncEnumerator();
        Task<bool> quitting = quitter.MoveNextAsync().AsTask();
        Task<bool> staying = stayer.MoveNextAsync().AsTask();
        scheduler.Schedule(TimeSpan.FromSeconds(1), "payload");

        await cts.CancelAsync();
        Assert.That(async () => await quitting, Throws.InstanceOf<OperationCanceledException>());
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(await staying.WaitAsync(Bound), Is.True);
        Assert.That(stayer.Current, Is.EqualTo("payload"));
    }

    [Test]
    public void A_negative_delay_is_rejected_naming_the_argument()
    {
        using var scheduler = new PayloadScheduler<int>(_time);
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => scheduler.Schedule(TimeSpan.FromTicks(-1), 1))!.ParamName, Is.EqualTo("delay"));
        Assert.That(scheduler.Count, Is.Zero, "the scheduler is still usable");
        scheduler.Schedule(TimeSpan.Zero, 1);
        Assert.That(scheduler.Count, Is.EqualTo(1));
    }

    [Test]
    public async Task Concurrent_scheduling_cancelling_and_consuming_lose_and_duplicate_nothing()
    {
        using var scheduler = new PayloadScheduler<int>(_time);
        const int producers = 4;
        const int perProducer = 5_000;
        var received = new ConcurrentBag<int>();
        var cancelled = new ConcurrentBag<int>();
        var consumers = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            await foreach (int payload in scheduler)
            {
                received.Add(payload);
            }
        })).ToArray();

        await Task.WhenAll(Enumerable.Range(0, producers).Select(p => Task.Run(() =>
        {
            for (int i = 0; i < perProducer; i++)
            {
                int id = (p * perProducer) + i;
                ScheduledPayload<int> handle = scheduler.Schedule(TimeSpan.FromTicks(i % 3), id); // some due at once, some a tick later
                if (i % 5 == 0 && handle.Cancel())
                {
                    cancelled.Add(id);
                }
            }
        }))).WaitAsync(Bound);

        scheduler.Complete();
        _time.Advance(TimeSpan.FromMilliseconds(1));
        await Task.WhenAll(consumers).WaitAsync(Bound);

        Assert.That(received.Concat(cancelled).Order(), Is.EqualTo(Enumerable.Range(0, producers * perProducer)));
    }
}
