using System.Collections.Concurrent;
using CsCheck;

namespace AsyncUtils.Tests;

public sealed class PrioritySemaphoreConcurrencyTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Cancellations_racing_with_releases_never_leak_or_duplicate_a_permit()
    {
        var random = new Random(2024);
        for (int iteration = 0; iteration < 1000; iteration++)
        {
            int waiters = random.Next(1, 9);
            int[] cancelOrder = [.. Enumerable.Range(0, waiters).OrderBy(_ => random.Next())];
            var semaphore = new PrioritySemaphore(0);
            var sources = Enumerable.Range(0, waiters).Select(_ => new CancellationTokenSource()).ToArray();
            var tasks = sources.Select((s, i) => semaphore.WaitAsync(i % 3, s.Token)).ToArray();
            bool[] cancel = [.. Enumerable.Range(0, waiters).Select(_ => random.Next(2) == 0)];
            int releases = random.Next(0, waiters + 3);

            using var start = new Barrier(2);
            var releaser = new Thread(() =>
            {
                start.SignalAndWait();
                for (int i = 0; i < releases; i++)
                {
                    semaphore.Release();
                }
            });
            var canceller = new Thread(() =>
            {
                start.SignalAndWait();
                foreach (int i in cancelOrder)
                {
                    if (cancel[i])
                    {
                        sources[i].Cancel();
                    }
                }
            });
            releaser.Start();
            canceller.Start();
            Assert.That(releaser.Join(Bound) && canceller.Join(Bound), Is.True);

            int granted = 0;
            for (int i = 0; i < waiters; i++)
            {
                if (cancel[i])
                {
                    await Assert.CatchAsync<OperationCanceledException>(async () => await tasks[i].AsTask().WaitAsync(Bound), $"iteration {iteration}, waiter {i}");
                }
                else if (tasks[i].IsCompleted)
                {
                    await tasks[i];
                    granted++;
                }
            }

            int live = cancel.Count(c => !c);
            Assert.Multiple(() =>
            {
                Assert.That(granted, Is.EqualTo(Math.Min(releases, live)), $"iteration {iteration}: granted");
                Assert.That(semaphore.CurrentCount, Is.EqualTo(releases - granted), $"iteration {iteration}: permits counted at the end");
                Assert.That(semaphore.WaitingCount, Is.EqualTo(live - granted), $"iteration {iteration}: waiters left");
            });

            semaphore.Release(Math.Max(1, live - granted));
            foreach (CancellationTokenSource source in sources)
            {
                source.Dispose();
            }
        }
    }

    [Test]
    public async Task Many_tasks_and_threads_never_exceed_the_count_and_return_every_permit()
    {
        const int permits = 3;
        var semaphore = new PrioritySemaphore(permits, permits);
        int inside = 0;
        int maxInside = 0;
        long entries = 0;

        async Task AsyncWorker(int id)
        {
            for (int i = 0; i < 300; i++)
            {
                using (PriorityContext.Enter((id + i) % 5))
                using (await semaphore.AcquireAsync())
                {
                    int now = Interlocked.Increment(ref inside);
                    InterlockedMax(ref maxInside, now);
                    Interlocked.Increment(ref entries);
                    if (i % 7 == 0)
                    {
                        await Task.Yield();
                    }

                    Interlocked.Decrement(ref inside);
                }
            }
        }

        void BlockingWorker(int id)
        {
            for (int i = 0; i < 300; i++)
            {
                Assert.That(semaphore.Wait(id, Timeout.InfiniteTimeSpan, CancellationToken.None), Is.True);
                int now = Interlocked.Increment(ref inside);
                InterlockedMax(ref maxInside, now);
                Interlocked.Increment(ref entries);
                Interlocked.Decrement(ref inside);
                semaphore.Release();
            }
        }

        var threads = Enumerable.Range(0, 2).Select(id => new Thread(() => BlockingWorker(id))).ToList();
        threads.ForEach(t => t.Start());
        await Task.WhenAll(Enumerable.Range(0, 8).Select(id => Task.Run(() => AsyncWorker(id)))).WaitAsync(Bound);
        threads.ForEach(t => Assert.That(t.Join(Bound), Is.True));

        Assert.That(maxInside, Is.LessThanOrEqualTo(permits));
        Assert.That(entries, Is.EqualTo((8 + 2) * 300));
        Assert.That(semaphore.CurrentCount, Is.EqualTo(permits));
        Assert.That(semaphore.WaitingCount, Is.Zero);

        static void InterlockedMax(ref int target, int value)
        {
            int seen = Volatile.Read(ref target);
            while (value > seen)
            {
                int previous = Interlocked.CompareExchange(ref target, value, seen);
                if (previous == seen)
                {
                    return;
                }

                seen = previous;
            }
        }
    }

    [Test]
    public async Task Timeouts_racing_with_releases_never_leak_or_duplicate_a_permit()
    {
        // Real time on purpose: timeouts of 0-2 ms fire on timer threads while permits are handed
        // from holder to holder. Every wait that returned true releases once; at the end exactly
        // the permits of the start are left and nobody waits. Bounded: 6 x 1,000 timed waits.
        const int Permits = 1;
        var semaphore = new PrioritySemaphore(Permits, Permits);
        int holders = 0;
        int maxHolders = 0;
        int granted = 0;
        int timedOut = 0;

        async Task Worker(int seed)
        {
            var random = new Random(seed);
            for (int i = 0; i < 1_000; i++)
            {
                TimeSpan timeout = TimeSpan.FromMilliseconds(random.Next(0, 3));
                bool held = random.Next(2) == 0
                    ? await semaphore.WaitAsync(random.Next(-2, 3), timeout, CancellationToken.None).ConfigureAwait(false)
                    : semaphore.Wait(timeout);
                if (!held)
                {
                    Interlocked.Increment(ref timedOut);
                    continue;
                }

                Interlocked.Increment(ref granted);
                int now = Interlocked.Increment(ref holders);
                int seen = Volatile.Read(ref maxHolders);
                while (now > seen)
                {
                    int previous = Interlocked.CompareExchange(ref maxHolders, now, seen);
                    if (previous == seen)
                    {
                        break;
                    }

                    seen = previous;
                }

                if (random.Next(2) == 0)
                {
                    await Task.Yield();
                }
                else
                {
                    Thread.SpinWait(random.Next(1_000, 20_000));
                }

                Interlocked.Decrement(ref holders);
                semaphore.Release();
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 6).Select(seed => Task.Run(() => Worker(seed)))).WaitAsync(Bound);
        Assert.That(granted + timedOut, Is.EqualTo(6 * 1_000));
        Assert.That(granted, Is.Positive);
        Assert.That(timedOut, Is.Positive, "the timeouts raced the releases");
        Assert.That(maxHolders, Is.LessThanOrEqualTo(Permits), "never more holders than permits");
        Assert.That(semaphore.CurrentCount, Is.EqualTo(Permits), "every permit came back exactly once");
        Assert.That(semaphore.WaitingCount, Is.Zero);
    }

    [Test]
    public void Concurrent_tries_and_releases_are_explained_by_some_sequential_order()
    {
        // CsCheck runs a random prefix sequentially, then the rest on several threads, and looks for
        // an order of the operations (each thread's own order kept) that a plain counter explains.
        Gen.Const(() => (new Actual(), new Model()))
            .SampleParallel(
                Gen.Long.Operation<Actual, Model>(
                    id => $"TryWait({id})",
                    (a, id) => a.Results[id] = a.Semaphore.Wait(TimeSpan.Zero),
                    (m, id) => m.Results[id] = m.TryTake()),
                Gen.Int[1, 2].Operation<Actual, Model>(
                    n => $"Release({n})",
                    (a, n) => a.Semaphore.Release(n),
                    (m, n) => m.Count += n),
                equal: (a, m) => a.Semaphore.CurrentCount == m.Count
                    && a.Results.Count == m.Results.Count
                    && m.Results.All(r => a.Results.TryGetValue(r.Key, out bool v) && v == r.Value),
                iter: 300);
    }

    internal sealed class Actual
    {
        public PrioritySemaphore Semaphore { get; } = new(1);

        public ConcurrentDictionary<long, bool> Results { get; } = new();

        public override string ToString() => $"Count={Semaphore.CurrentCount}, results=[{string.Join(", ", Results.OrderBy(r => r.Key))}]";
    }

    internal sealed class Model
    {
        public int Count { get; set; } = 1;

        public Dictionary<long, bool> Results { get; } = [];

        public bool TryTake()
        {
            if (Count == 0)
            {
                return false;
            }

            Count--;
            return true;
        }

        public override string ToString() => $"Count={Count}, results=[{string.Join(", ", Results.OrderBy(r => r.Key))}]";
    }
}
