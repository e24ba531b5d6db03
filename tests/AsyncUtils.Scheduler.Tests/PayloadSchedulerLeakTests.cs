using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

/// <summary>Nothing leaks: no token registration outlives the wait it was made for, and the heap gives memory back.</summary>
public sealed class PayloadSchedulerLeakTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Deliveries_racing_the_wait_leave_no_registration_on_a_long_lived_token()
    {
        // Pairs of one producer and one consumer, each pair on its own scheduler, all consumers on
        // one long-lived token. Payloads due at once go straight to the waiting consumer, often
        // while it is still between joining the waiter list and registering on its token; more
        // threads than cores make that window wide now and then.
        const int pairs = 2;
        const int perProducer = 100_000;
        using var lifetime = new CancellationTokenSource();
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var budget = Stopwatch.StartNew();
        var schedulers = Enumerable.Range(0, pairs).Select(_ => new PayloadScheduler<int>(time)).ToArray();
        var enumerators = schedulers.Select(s => (SchedulerEnumerator<int>)s.GetAsyncEnumerator(lifetime.Token)).ToArray();
        long received = 0;
        long produced = 0;
        long waits = 0;
        Task[] consumers = enumerators.Select(e => Task.Run(async () =>
        {
            while (true)
            {
                ValueTask<bool> next = e.MoveNextAsync();
                if (!next.IsCompleted)
                {
                    Interlocked.Increment(ref waits);
                }

                if (!await next)
                {
                    break;
                }

                Interlocked.Increment(ref received);
            }
        })).ToArray();

        await Task.WhenAll(schedulers.Select((s, p) => Task.Factory.StartNew(() =>
        {
            SchedulerEnumerator<int> consumer = enumerators[p];
            for (int i = 0; i < perProducer && budget.Elapsed < TimeSpan.FromSeconds(3); i++)
            {
                // Hand the next payload over the moment the consumer has joined the waiter list.
                var spinner = default(SpinWait);
                while (!Volatile.Read(ref consumer.Queued) && spinner.Count < 100)
                {
                    spinner.SpinOnce();
                }

                s.Schedule(TimeSpan.Zero, i);
                Interlocked.Increment(ref produced);
            }

            s.Complete();
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default))).WaitAsync(Bound);

        await Task.WhenAll(consumers).WaitAsync(Bound);
        Assert.That(received, Is.EqualTo(produced));

        // No consumer is waiting any more, so no registration of ours may be left on the token.
        lifetime.Cancel();
        Assert.That(enumerators.Sum(e => e.CancellationCallbacks), Is.Zero, $"registrations left after {received} deliveries, {waits} waits");
        foreach (PayloadScheduler<int> scheduler in schedulers)
        {
            scheduler.Dispose();
        }
    }

    [Test]
    public async Task The_heap_shrinks_when_mostly_empty_after_mass_cancellation_and_delivery()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var scheduler = new PayloadScheduler<int>(time);
        const int total = 100_000;
        var handles = new ScheduledPayload<int>[total];
        for (int i = 0; i < total; i++)
        {
            handles[i] = scheduler.Schedule(TimeSpan.FromSeconds(i % 1000), i);
        }

        int peak = scheduler.Capacity;
        Assert.That(peak, Is.GreaterThanOrEqualTo(total));

        // Cancel all but every 10,000th payload, in scrambled order.
        for (int k = 0; k < total; k++)
        {
            int i = (int)((k * 7919L) % total);
            if (i % 10_000 != 0)
            {
                handles[i].Cancel();
            }
        }

        Assert.That(scheduler.Count, Is.EqualTo(10));
        Assert.That(scheduler.Capacity, Is.LessThanOrEqualTo(64), $"capacity after cancelling down to 10 (peak {peak})");

        // What is left is intact, and the heap grows and shrinks again as it is used.
        for (int i = 0; i < 1000; i++)
        {
            scheduler.Schedule(TimeSpan.FromSeconds(2000), -1);
        }

        Assert.That(scheduler.Capacity, Is.GreaterThanOrEqualTo(1010));
        time.Advance(TimeSpan.FromSeconds(3000));
        scheduler.Complete();
        var seen = new List<int>();
        await foreach (int payload in scheduler)
        {
            seen.Add(payload);
        }

        Assert.That(seen.Where(p => p >= 0), Is.EqualTo(Enumerable.Range(0, 10).Select(i => i * 10_000)), "in due order");
        Assert.That(seen.Count(p => p < 0), Is.EqualTo(1000));
        Assert.That(scheduler.Capacity, Is.LessThanOrEqualTo(16), "delivered down to nothing");
    }
}
