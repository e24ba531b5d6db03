using System.Diagnostics;

namespace AsyncUtils.Tests;

public sealed class StressTests
{
    [Test]
    public async Task Eight_producers_and_eight_consumers_of_both_colors_move_a_million_items_exactly_once()
    {
        const int producers = 8;
        const int consumers = 8;
        const int total = 1_000_000;
        const int perProducer = total / producers;
        var q = new DualQueue<int>(capacity: 1024);
        var seen = new int[total];
        var clock = Stopwatch.StartNew();

        // Producers: blocking Put, PutAsync, blocking TryPut with a timeout, the channel writer.
        var producing = new List<Task>();
        for (int p = 0; p < producers; p++)
        {
            int first = p * perProducer;
            producing.Add((p % 4) switch
            {
                0 => TestHelpers.OnThread(() =>
                {
                    for (int i = 0; i < perProducer; i++)
                    {
                        q.Put(first + i);
                    }
                }),
                1 => Task.Run(async () =>
                {
                    for (int i = 0; i < perProducer; i++)
                    {
                        await q.PutAsync(first + i);
                    }
                }),
                2 => TestHelpers.OnThread(() =>
                {
                    for (int i = 0; i < perProducer; i++)
                    {
                        while (!q.TryPut(first + i, TimeSpan.FromSeconds(1)))
                        {
                        }
                    }
                }),
                _ => Task.Run(async () =>
                {
                    for (int i = 0; i < perProducer; i++)
                    {
                        await q.Writer.WriteAsync(first + i);
                    }
                }),
            });
        }

        // Consumers: the blocking enumerable, ReadAllAsync, blocking TryTake with a timeout, TakeAsync.
        var consuming = new List<Task<int>>();
        for (int c = 0; c < consumers; c++)
        {
            consuming.Add((c % 4) switch
            {
                0 => TestHelpers.OnThread(() =>
                {
                    int n = 0;
                    foreach (int x in q.GetConsumingEnumerable())
                    {
                        Interlocked.Increment(ref seen[x]);
                        n++;
                    }

                    return n;
                }),
                1 => Task.Run(async () =>
                {
                    int n = 0;
                    await foreach (int x in q.ReadAllAsync())
                    {
                        Interlocked.Increment(ref seen[x]);
                        n++;
                    }

                    return n;
                }),
                2 => TestHelpers.OnThread(() =>
                {
                    int n = 0;
                    while (true)
                    {
                        if (q.TryTake(out int x, TimeSpan.FromSeconds(1)))
                        {
                            Interlocked.Increment(ref seen[x]);
                            n++;
                        }
                        else if (q.IsCompleted && q.Count == 0)
                        {
                            return n;
                        }
                    }
                }),
                _ => Task.Run(async () =>
                {
                    int n = 0;
                    try
                    {
                        while (true)
                        {
                            int x = await q.TakeAsync();
                            Interlocked.Increment(ref seen[x]);
                            n++;
                        }
                    }
                    catch (QueueCompletedException)
                    {
                        return n;
                    }
                }),
            });
        }

        await Task.WhenAll(producing).WaitAsync(TimeSpan.FromSeconds(60));
        q.Complete();
        int[] counts = await Task.WhenAll(consuming).WaitAsync(TimeSpan.FromSeconds(60));
        TestContext.Out.WriteLine($"1,000,000 items in {clock.ElapsedMilliseconds} ms; per consumer: {string.Join(", ", counts)}");

        Assert.That(counts.Sum(), Is.EqualTo(total));
        Assert.That(seen.All(s => s == 1), Is.True, "every item was taken exactly once");
        Assert.That(q.Count + q.WaitingPutters + q.WaitingTakers, Is.Zero);
        Assert.That(counts.All(n => n > 0), Is.True, "every consumer took part");
    }

    [Test]
    public async Task A_small_bounded_queue_never_holds_more_than_its_capacity_under_contention()
    {
        const int capacity = 4;
        const int perProducer = 25_000;
        var q = new DualStack<int>(capacity);
        var seen = new int[4 * perProducer];
        int overCapacity = 0;
        using var stop = new CancellationTokenSource();

        Task observer = TestHelpers.OnThread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (q.Count > capacity)
                {
                    Interlocked.Increment(ref overCapacity);
                }
            }
        });
        var producing = Enumerable.Range(0, 4).Select(p => p % 2 == 0
            ? TestHelpers.OnThread(() =>
            {
                for (int i = 0; i < perProducer; i++)
                {
                    q.Put(p * perProducer + i);
                }
            })
            : Task.Run(async () =>
            {
                for (int i = 0; i < perProducer; i++)
                {
                    await q.PutAsync(p * perProducer + i);
                }
            })).ToList();
        var consuming = Enumerable.Range(0, 3).Select(c => c == 0
            ? TestHelpers.OnThread(() =>
            {
                foreach (int x in q.GetConsumingEnumerable())
                {
                    Interlocked.Increment(ref seen[x]);
                }
            })
            : Task.Run(async () =>
            {
                await foreach (int x in q.ReadAllAsync())
                {
                    Interlocked.Increment(ref seen[x]);
                }
            })).ToList();

        await Task.WhenAll(producing).WaitAsync(TimeSpan.FromSeconds(60));
        q.Complete();
        await Task.WhenAll(consuming).WaitAsync(TimeSpan.FromSeconds(60));
        stop.Cancel();
        await observer.Bounded();

        Assert.That(overCapacity, Is.Zero);
        Assert.That(seen.All(s => s == 1), Is.True);
    }

    [Test]
    public async Task A_priority_queue_shared_by_both_colors_loses_and_duplicates_nothing()
    {
        const int perProducer = 50_000;
        var pq = new DualPriorityQueue<int, int>(capacity: 16);
        var seen = new int[2 * perProducer];
        Task blockingProducer = TestHelpers.OnThread(() =>
        {
            for (int i = 0; i < perProducer; i++)
            {
                pq.Put(i, i % 7);
            }
        });
        Task asyncProducer = Task.Run(async () =>
        {
            for (int i = perProducer; i < 2 * perProducer; i++)
            {
                await pq.PutAsync(i, i % 5);
            }
        });
        Task blockingConsumer = TestHelpers.OnThread(() =>
        {
            foreach (int x in pq.GetConsumingEnumerable())
            {
                Interlocked.Increment(ref seen[x]);
            }
        });
        Task asyncConsumer = Task.Run(async () =>
        {
            await foreach (int x in pq.ReadAllAsync())
            {
                Interlocked.Increment(ref seen[x]);
            }
        });
        await Task.WhenAll(blockingProducer, asyncProducer).WaitAsync(TimeSpan.FromSeconds(60));
        pq.Complete();
        await Task.WhenAll(blockingConsumer, asyncConsumer).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.That(seen.All(s => s == 1), Is.True);
    }

    [Test]
    public async Task Completing_while_both_colors_wait_on_both_sides_ends_every_wait()
    {
        for (int round = 0; round < 50; round++)
        {
            var takeSide = new DualQueue<int>();
            var putSide = new DualQueue<int>(capacity: 1);
            putSide.Put(0);
            var waits = new List<Task>
            {
                TestHelpers.OnThread(() => Assert.That(() => takeSide.Take(), Throws.TypeOf<QueueCompletedException>())),
                TestHelpers.OnThread(() => Assert.That(() => putSide.Put(1), Throws.TypeOf<QueueCompletedException>())),
                Expect(takeSide.TakeAsync().AsTask()),
                Expect(putSide.PutAsync(2).AsTask()),
            };
            // Complete while the waiters are still arriving: each either sees completion up front
            // or is woken by it; none may be left waiting.
            Task completer = Task.Run(() =>
            {
                takeSide.Complete();
                putSide.Complete();
            });
            await Task.WhenAll(waits.Append(completer)).Bounded();
            Assert.That(takeSide.WaitingTakers + putSide.WaitingPutters, Is.Zero);
            Assert.That(putSide.Take(), Is.Zero);
        }

        static async Task Expect(Task task)
        {
            try
            {
                await task;
                Assert.Fail("the wait should have failed");
            }
            catch (QueueCompletedException)
            {
            }
        }
    }
}
