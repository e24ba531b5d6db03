using System.Collections.Concurrent;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class WaterfallConcurrencyTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(1);

    private const int Threads = 8;
    private const int PutsPerThread = 250_000;

    [Test]
    public async Task Eight_threads_of_250000_puts_are_all_delivered_exactly_once_in_each_producers_order()
    {
        // One batch at a time, so delivery order is batch order: each producer's items must then
        // arrive in the order it put them.
        var seen = new int[Threads * PutsPerThread];
        var lastByProducer = Enumerable.Repeat(-1, Threads).ToArray();
        var outOfOrder = new ConcurrentQueue<string>();
        int maxBatch = 0;
        var waterfall = new Waterfall<int>((batch, _) =>
        {
            maxBatch = Math.Max(maxBatch, batch.Count);
            foreach (int item in batch)
            {
                Interlocked.Increment(ref seen[item]);
                int producer = item / PutsPerThread;
                if (item <= lastByProducer[producer])
                {
                    outOfOrder.Enqueue($"{item} after {lastByProducer[producer]}");
                }

                lastByProducer[producer] = item;
            }

            return ValueTask.CompletedTask;
        }, new WaterfallOptions { MaxBatchSize = 1_000, MaxConcurrentBatches = 1, TimeProvider = new FakeTimeProvider() });
        waterfall.Start();

        RunProducers(t => waterfall.Put((t * PutsPerThread) + 0), t =>
        {
            for (int i = 1; i < PutsPerThread; i++)
            {
                waterfall.Put((t * PutsPerThread) + i);
            }
        });

        await waterfall.StopAsync().WaitAsync(Bound);
        Assert.That(seen.Count(c => c != 1), Is.Zero, "every item delivered exactly once");
        Assert.That(outOfOrder, Is.Empty);
        Assert.That(maxBatch, Is.LessThanOrEqualTo(1_000));
        WaterfallStatistics stats = waterfall.GetStatistics();
        Assert.That(stats.ItemsBatched, Is.EqualTo(Threads * PutsPerThread));
        Assert.That(stats.BatchesCompleted, Is.EqualTo(stats.Batches));
    }

    [Test]
    public async Task Eight_threads_of_250000_puts_with_real_time_flushes_and_concurrent_batches_are_delivered_exactly_once()
    {
        // Real time with a 1 ms wait makes time flushes race with count flushes and puts.
        var seen = new int[Threads * PutsPerThread];
        int emptyBatches = 0;
        var waterfall = new Waterfall<int>((batch, _) =>
        {
            if (batch.Count == 0)
            {
                Interlocked.Increment(ref emptyBatches);
            }

            foreach (int item in batch)
            {
                Interlocked.Increment(ref seen[item]);
            }

            return ValueTask.CompletedTask;
        }, new WaterfallOptions { MaxBatchSize = 64, MaxWait = TimeSpan.FromMilliseconds(1) });
        waterfall.Start();

        RunProducers(_ => { }, t =>
        {
            for (int i = 0; i < PutsPerThread; i++)
            {
                waterfall.Put((t * PutsPerThread) + i);
                if (i % 50_000 == 0)
                {
                    Thread.Sleep(2); // let the 1 ms timer fire on partial batches now and then
                }
            }
        });

        await waterfall.StopAsync().WaitAsync(Bound);
        Assert.That(emptyBatches, Is.Zero);
        Assert.That(seen.Count(c => c != 1), Is.Zero, "every item delivered exactly once");
        Assert.That(waterfall.GetStatistics().ItemsBatched, Is.EqualTo(Threads * PutsPerThread));
    }

    [Test]
    public async Task Tiny_batches_under_contention_rotate_correctly_for_reference_items()
    {
        // Batches of 3 make nearly every put race a batch hand-over (the filling writer, a writer
        // that finds the batch full, and the 1 ms timer may all try to dispatch it).
        const int threads = 4;
        const int puts = 50_000;
        var seen = new ConcurrentDictionary<string, int>();
        int badBatches = 0;
        var waterfall = new Waterfall<string>((batch, _) =>
        {
            if (batch.Count is 0 or > 3 || batch.Any(item => item is null))
            {
                Interlocked.Increment(ref badBatches);
            }

            foreach (string item in batch)
            {
                seen.AddOrUpdate(item, 1, (_, n) => n + 1);
            }

            return ValueTask.CompletedTask;
        }, new WaterfallOptions { MaxBatchSize = 3, MaxWait = TimeSpan.FromMilliseconds(1), MaxConcurrentBatches = 2 });
        waterfall.Start();

        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            for (int i = 0; i < puts; i++)
            {
                waterfall.Put($"{t}:{i}");
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => Assert.That(w.Join(Bound), Is.True));
        await waterfall.StopAsync().WaitAsync(Bound);

        Assert.That(badBatches, Is.Zero, "no empty, oversized or torn batch");
        Assert.That(seen, Has.Count.EqualTo(threads * puts));
        Assert.That(seen.Values.All(n => n == 1), Is.True, "every item delivered exactly once");
    }

    [Test]
    public async Task Puts_racing_a_stop_are_either_refused_or_delivered_never_lost()
    {
        for (int round = 0; round < 20; round++)
        {
            long delivered = 0;
            var waterfall = new Waterfall<int>((batch, _) =>
            {
                Interlocked.Add(ref delivered, batch.Count);
                return ValueTask.CompletedTask;
            }, new WaterfallOptions { MaxBatchSize = 16, TimeProvider = new FakeTimeProvider() });
            waterfall.Start();

            long accepted = 0;
            using var go = new ManualResetEventSlim();
            var producers = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
            {
                go.Wait();
                while (waterfall.TryPut(1))
                {
                    Interlocked.Increment(ref accepted);
                }
            })).ToList();
            producers.ForEach(p => p.Start());
            go.Set();
            Thread.Yield();
            Task stop = waterfall.StopAsync();
            producers.ForEach(p => Assert.That(p.Join(Bound), Is.True));
            await stop.WaitAsync(Bound);

            Assert.That(Interlocked.Read(ref delivered), Is.EqualTo(Interlocked.Read(ref accepted)), $"round {round}");
        }
    }

    private static void RunProducers(Action<int> first, Action<int> rest)
    {
        using var go = new ManualResetEventSlim();
        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            go.Wait();
            first(t);
            rest(t);
        })).ToList();
        threads.ForEach(t => t.Start());
        go.Set();
        threads.ForEach(t => Assert.That(t.Join(Bound), Is.True, "a producer did not finish"));
    }
}
