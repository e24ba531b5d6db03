using System.Collections.Concurrent;
using CsCheck;

namespace AsyncUtils.Tests;

public sealed class LruConcurrencyTests
{
    [Test]
    public void Eight_threads_of_mixed_operations_keep_the_count_within_capacity_and_read_only_written_values()
    {
        const int threads = 8;
        const int opsPerThread = 200_000;
        const int capacity = 64;
        const int keys = 256;

        long added = 0;
        long removedCount = 0;
        var cache = new LruCache<int, long>(capacity, new LruCacheOptions<int, long>
        {
            OnRemoved = (_, _, _) => Interlocked.Increment(ref removedCount),
            TrackStatistics = true,
        });
        var failures = new ConcurrentQueue<string>();

        // A value encodes its key, so a read can prove it got a value written for that key.
        static long ValueFor(int key, long sequence) => (sequence * keys) + key;

        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            var random = new Random(t);
            for (long i = 0; i < opsPerThread && failures.IsEmpty; i++)
            {
                int key = random.Next(keys);
                switch (random.Next(10))
                {
                    case < 6:
                        if (cache.TryGetValue(key, out long read) && read % keys != key)
                        {
                            failures.Enqueue($"read {read} for key {key}");
                        }

                        break;
                    case < 8:
                        cache[key] = ValueFor(key, i);
                        Interlocked.Increment(ref added);
                        break;
                    case 8:
                        long stored = cache.GetOrAdd(key, static (k, seq) => ValueFor(k, seq), i);
                        if (stored % keys != key)
                        {
                            failures.Enqueue($"GetOrAdd returned {stored} for key {key}");
                        }

                        break;
                    default:
                        cache.Remove(key);
                        break;
                }

                if (cache.Count > capacity)
                {
                    failures.Enqueue($"count {cache.Count} above capacity");
                }
            }
        })).ToList();

        workers.ForEach(w => w.Start());
        workers.ForEach(w => Assert.That(w.Join(TimeSpan.FromMinutes(2)), Is.True, "a worker did not finish"));

        Assert.That(failures, Is.Empty);
        int live = Enumerable.Range(0, keys).Count(k => cache.TryGetValue(k, out _));
        Assert.That(cache.Count, Is.EqualTo(live), "the count matches what can be read");
        LruCacheStatistics stats = cache.GetStatistics()!.Value;
        Assert.That(stats.Hits + stats.Misses, Is.GreaterThan(0));
    }

    [Test]
    public void Hits_racing_with_evictions_never_return_a_removed_entry_as_another_key()
    {
        // Two readers hammer a tiny cache while a writer churns it: every hit must be the key's own value.
        var cache = new LruCache<int, int>(2);
        using var stop = new CancellationTokenSource();
        int bad = 0;
        var readers = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                for (int k = 0; k < 4; k++)
                {
                    if (cache.TryGetValue(k, out int v) && v != k * 10)
                    {
                        Interlocked.Increment(ref bad);
                    }
                }
            }
        })).ToList();
        readers.ForEach(r => r.Start());
        for (int i = 0; i < 200_000; i++)
        {
            cache[i % 4] = (i % 4) * 10;
        }

        stop.Cancel();
        readers.ForEach(r => Assert.That(r.Join(TimeSpan.FromMinutes(1)), Is.True));
        Assert.That(bad, Is.Zero);
        Assert.That(cache.Count, Is.EqualTo(2));
    }

    [Test]
    public void Small_concurrent_operation_sets_are_explained_by_some_sequential_order()
    {
        // CsCheck runs a random prefix sequentially, then the rest on several threads, and looks for
        // an order (each thread's own order kept) in which the reference model ends in the same
        // state with the same read results and removals. The capacity covers the key range: which
        // entry a write evicts while a hit on it is still in flight is a true race with no single
        // right answer (see Reads_on_different_threads_in_sequence_keep_their_order_for_eviction).
        const int capacity = 6;
        Gen.Const(() => (new Actual(capacity), new LruModelState(capacity)))
            .SampleParallel(
                Gen.Select(Gen.Int[0, 5], Gen.Long).Operation<Actual, LruModelState>(
                    t => $"TryGetValue({t.Item1})",
                    (a, t) => a.Reads[t.Item2] = a.Cache.TryGetValue(t.Item1, out int v) ? v : null,
                    (m, t) => m.Reads[t.Item2] = m.Model.TryGetValue(t.Item1, out int v) ? v : null),
                Gen.Select(Gen.Int[0, 5], Gen.Int[0, 100]).Operation<Actual, LruModelState>(
                    t => $"Set({t.Item1}, {t.Item2})",
                    (a, t) => a.Cache[t.Item1] = t.Item2,
                    (m, t) => m.Model.Set(t.Item1, t.Item2)),
                Gen.Select(Gen.Int[0, 5], Gen.Int[0, 100], Gen.Long).Operation<Actual, LruModelState>(
                    t => $"GetOrAdd({t.Item1}, {t.Item2})",
                    (a, t) => a.Reads[t.Item3] = a.Cache.GetOrAdd(t.Item1, t.Item2),
                    (m, t) => m.Reads[t.Item3] = m.Model.GetOrAdd(t.Item1, t.Item2)),
                Gen.Int[0, 5].Operation<Actual, LruModelState>(
                    k => $"Remove({k})",
                    (a, k) => a.Cache.Remove(k),
                    (m, k) => m.Model.Remove(k, out _)),
                equal: (a, m) => a.Matches(m),
                printActual: a => a.ToString(),
                printModel: m => m.ToString(),
                iter: 300);
    }

    [Test]
    public void Reads_on_different_threads_in_sequence_keep_their_order_for_eviction()
    {
        // One logical flow hopping between threads: each read finishes before the next starts.
        const int n = 40;
        var evicted = new List<int>();
        var cache = new LruCache<int, int>(n, new LruCacheOptions<int, int>
        {
            OnRemoved = (k, _, r) => { if (r == CacheRemovalReason.Evicted) { evicted.Add(k); } },
        });
        for (int i = 0; i < n; i++)
        {
            cache[i] = i;
        }

        int[] readOrder = [.. Enumerable.Range(0, n).OrderBy(i => (i * 17) % n)];
        for (int i = 0; i < readOrder.Length; i++)
        {
            // Alternate among four dedicated threads so the reads land on different stripes.
            int key = readOrder[i];
            var reader = new Thread(() => cache.TryGetValue(key, out _));
            reader.Start();
            Assert.That(reader.Join(TimeSpan.FromSeconds(30)), Is.True);
        }

        for (int i = 0; i < n; i++)
        {
            cache[n + i] = i;
        }

        Assert.That(evicted, Is.EqualTo(readOrder));
    }

    [Test]
    public async Task Reads_in_an_async_flow_hopping_threads_keep_their_order_for_eviction()
    {
        const int n = 64;
        var evicted = new List<int>();
        var cache = new LruCache<int, int>(n, new LruCacheOptions<int, int>
        {
            OnRemoved = (k, _, r) => { if (r == CacheRemovalReason.Evicted) { evicted.Add(k); } },
        });
        for (int i = 0; i < n; i++)
        {
            cache[i] = i;
        }

        int[] readOrder = [.. Enumerable.Range(0, n).OrderBy(i => (i * 29) % n)];
        foreach (int key in readOrder)
        {
            await Task.Run(() => cache.TryGetValue(key, out _));
            await Task.Yield();
        }

        for (int i = 0; i < n; i++)
        {
            cache[n + i] = i;
        }

        Assert.That(evicted, Is.EqualTo(readOrder));
    }

    internal sealed class Actual
    {
        private readonly ConcurrentQueue<(int, int, CacheRemovalReason)> _removals = new();

        public Actual(int capacity)
        {
            Cache = new LruCache<int, int>(capacity, new LruCacheOptions<int, int> { OnRemoved = (k, v, r) => _removals.Enqueue((k, v, r)) });
        }

        public LruCache<int, int> Cache { get; }

        public ConcurrentDictionary<long, int?> Reads { get; } = new();

        public bool Matches(LruModelState m)
        {
            // Removals are compared as a multiset: callbacks of racing operations may run in either order.
            var removals = _removals.OrderBy(x => x).ToList();
            var expectedRemovals = m.Model.Removals.OrderBy(x => x).ToList();
            return Cache.Count == m.Model.Count
                && removals.SequenceEqual(expectedRemovals)
                && Reads.Count == m.Reads.Count
                && m.Reads.All(r => Reads.TryGetValue(r.Key, out int? v) && v == r.Value);
        }

        public override string ToString() =>
            $"Count={Cache.Count}, removals=[{string.Join(", ", _removals)}], reads=[{string.Join(", ", Reads.OrderBy(r => r.Key))}]";
    }

    internal sealed class LruModelState(int capacity)
    {
        public LruModel Model { get; } = new(capacity);

        public Dictionary<long, int?> Reads { get; } = [];

        public override string ToString() =>
            $"Count={Model.Count}, removals=[{string.Join(", ", Model.Removals)}], reads=[{string.Join(", ", Reads.OrderBy(r => r.Key))}]";
    }
}
