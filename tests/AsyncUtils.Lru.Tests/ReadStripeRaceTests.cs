using System.Collections.Concurrent;
using System.Diagnostics;

namespace AsyncUtils.Tests;

/// <summary>
/// Regression tests for the read buffer: more threads than stripes race reads, so threads share a
/// stripe. Afterwards the exact order promised for operations that do not overlap must still hold,
/// and the hit counter must be exact and never go down.
/// </summary>
public sealed class ReadStripeRaceTests
{
    // Several threads per stripe (there are 4 stripes per core, at most 64), so stripes are shared.
    private static readonly int Threads = Math.Min(256, Math.Max(32, Environment.ProcessorCount * 16));

    private const int Capacity = 48;

    private const int StormCycles = 6;

    private static readonly TimeSpan StormTime = TimeSpan.FromMilliseconds(250);

    [Test]
    [CancelAfter(60_000)]
    public void ReadStripe_after_racing_reads_non_overlapping_reads_evict_exactly_the_least_recently_read_key_every_round_also_after_Clear()
    {
        int evicted = -1;
        var cache = new LruCache<int, int>(Capacity, new LruCacheOptions<int, int>
        {
            OnRemoved = (k, _, r) =>
            {
                if (r == CacheRemovalReason.Evicted)
                {
                    Volatile.Write(ref evicted, k);
                }
            },
        });
        var live = new List<int>();
        int nextKey = 0;
        void Fill()
        {
            cache.Clear();
            live.Clear();
            for (int i = 0; i < Capacity; i++)
            {
                cache[nextKey] = nextKey;
                live.Add(nextKey++);
            }
        }

        var failures = new ConcurrentQueue<string>();
        const int phases = 2; // before and after Clear()

        // Each cycle: a storm of racing reads, then every storm thread in turn checks the order alone.
        // A stripe broken by one storm stays broken, so later cycles keep failing too.
        for (int cycle = 0; cycle < StormCycles && failures.IsEmpty; cycle++)
        {
            Fill();
            int[] stormKeys = [.. live];
            using var stormDone = new CountdownEvent(Threads);
            var turns = Enumerable.Range(0, Threads).Select(_ => new SemaphoreSlim(0)).ToArray();
            using var turnDone = new SemaphoreSlim(0);
            var stopwatch = Stopwatch.StartNew();
            int c = cycle;

            var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
            {
                // Every thread reads the same keys in its own scrambled order, so nearly every read
                // is recorded and stripes fill and drain constantly. All stop at the same instant, so
                // a thread paused inside a read finishes it after the others stopped.
                var random = new Random(t);
                while (stopwatch.Elapsed < StormTime)
                {
                    cache.TryGetValue(stormKeys[random.Next(stormKeys.Length)], out _);
                }

                stormDone.Signal();

                // Then each thread in turn, alone: read every live key but one, insert a new key;
                // the key not read must be the one evicted.
                for (int phase = 0; phase < phases; phase++)
                {
                    if (!turns[t].Wait(TimeSpan.FromSeconds(30)))
                    {
                        failures.Enqueue($"thread {t} never got its turn");
                        return;
                    }

                    for (int round = 0; round < 3; round++)
                    {
                        int victim = live[(t * 7 + round * 13 + phase) % live.Count];
                        foreach (int key in live.Where(k => k != victim).OrderBy(k => (k * 31) % 101))
                        {
                            if (!cache.TryGetValue(key, out _))
                            {
                                failures.Enqueue($"cycle {c}, phase {phase}, thread {t}: live key {key} missing");
                            }
                        }

                        Volatile.Write(ref evicted, -1);
                        cache[nextKey] = nextKey;
                        int got = Volatile.Read(ref evicted);
                        if (got != victim)
                        {
                            failures.Enqueue($"cycle {c}, phase {phase}, thread {t}, round {round}: evicted {got}, expected the least recently read key {victim}");
                        }

                        live.Remove(got);
                        live.Add(nextKey++);
                    }

                    turnDone.Release();
                }
            })).ToList();

            workers.ForEach(w => w.Start());
            Assert.That(stormDone.Wait(TimeSpan.FromSeconds(30)), Is.True, "the storm did not finish");
            for (int phase = 0; phase < phases; phase++)
            {
                if (phase == 1)
                {
                    Fill();
                }

                for (int t = 0; t < Threads; t++)
                {
                    turns[t].Release();
                    Assert.That(turnDone.Wait(TimeSpan.FromSeconds(30)), Is.True, $"thread {t} did not finish its turn");
                }
            }

            workers.ForEach(w => Assert.That(w.Join(TimeSpan.FromSeconds(30)), Is.True));
            Array.ForEach(turns, s => s.Dispose());
        }

        Assert.That(failures.Take(10), Is.Empty);
    }

    [Test]
    public void ReadStripe_a_reader_paused_between_reading_the_tail_and_appending_never_moves_the_tail_behind_the_head()
    {
        // The interleaving made deterministic: reader A reads head and tail, then pauses; reader B
        // (same stripe) fills it and the lock holder applies every read; then A resumes.
        var stripe = new ReadStripe<object>();
        long headA = Volatile.Read(ref stripe.Head);
        long tailA = Volatile.Read(ref stripe.Tail);
        int appended = 0;
        for (int i = 0; i < ReadStripe<object>.Size; i++)
        {
            Assert.That(stripe.TryAppend(stripe.Head, stripe.Tail, new object(), 1), Is.True);
            appended++;
        }

        Assert.That(stripe.TryAppend(stripe.Head, stripe.Tail, new object(), 1), Is.False, "a full stripe refuses");
        int applied = ApplyAll(stripe);

        if (stripe.TryAppend(headA, tailA, new object(), 1))
        {
            appended++;
        }

        Assert.Multiple(() =>
        {
            Assert.That(applied, Is.EqualTo(ReadStripe<object>.Size));
            Assert.That(stripe.Tail, Is.GreaterThanOrEqualTo(stripe.Head), "the tail never falls behind the head");
            Assert.That(stripe.Tail, Is.EqualTo(appended), "the tail counts every recorded read");
        });

        // And the stripe still works: it fills up to exactly Size unapplied reads, in order.
        var nodes = new List<object>();
        while (stripe.TryAppend(stripe.Head, stripe.Tail, nodes.Count, 1))
        {
            nodes.Add(nodes.Count);
            Assert.That(nodes, Has.Count.LessThanOrEqualTo(ReadStripe<object>.Size), "never more unapplied reads than slots");
        }

        Assert.That(stripe.Tail - stripe.Head, Is.EqualTo(ReadStripe<object>.Size));
        var taken = new List<object>();
        while (stripe.TryTake() is { } node)
        {
            taken.Add(node);
        }

        Assert.That(taken, Is.EqualTo(nodes));
    }

    [Test]
    public void ReadStripe_the_lock_holder_stops_at_a_slot_claimed_but_not_written_yet_and_applies_it_later_in_order()
    {
        var stripe = new ReadStripe<object>();

        // Reader A claims slot 0 and pauses before writing it; reader B appends after it.
        Assert.That(Interlocked.CompareExchange(ref stripe.Tail, 1, 0), Is.Zero);
        Assert.That(stripe.TryAppend(stripe.Head, stripe.Tail, "b", 1), Is.True);

        Assert.That(stripe.TryTake(), Is.Null, "nothing is applied past the unwritten slot");
        Assert.That(stripe.Head, Is.Zero);

        // A resumes and writes its slot: both reads are applied, in the order they claimed slots.
        Volatile.Write(ref stripe.Records[0].Node, "a");
        Assert.That(stripe.TryTake(), Is.EqualTo("a"));
        Assert.That(stripe.TryTake(), Is.EqualTo("b"));
        Assert.That(stripe.TryTake(), Is.Null);
        Assert.That((stripe.Head, stripe.Tail), Is.EqualTo((2L, 2L)));
    }

    private static int ApplyAll(ReadStripe<object> stripe)
    {
        // What the lock holder does.
        int applied = 0;
        while (stripe.TryTake() is not null)
        {
            applied++;
        }

        return applied;
    }

    [Test]
    [CancelAfter(60_000)]
    public void ReadStripe_hits_are_counted_exactly_and_never_decrease_while_reads_race()
    {
        var cache = new LruCache<int, int>(Capacity, new LruCacheOptions<int, int> { TrackStatistics = true });
        for (int i = 0; i < Capacity; i++)
        {
            cache[i] = i;
        }

        long hits = 0;
        var decreases = new ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var stopwatch = Stopwatch.StartNew();
        var sampler = new Thread(() =>
        {
            long last = 0;
            while (!stop.IsCancellationRequested)
            {
                long now = cache.GetStatistics()!.Value.Hits;
                if (now < last)
                {
                    decreases.Enqueue($"Hits went from {last} down to {now}");
                }

                last = now;
            }
        });
        var readers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            var random = new Random(t);
            long mine = 0;
            for (int i = 0; i < 1_000_000 && stopwatch.Elapsed < TimeSpan.FromSeconds(2); i++)
            {
                if (cache.TryGetValue(random.Next(Capacity), out _))
                {
                    mine++;
                }
            }

            Interlocked.Add(ref hits, mine);
        })).ToList();

        sampler.Start();
        readers.ForEach(r => r.Start());
        readers.ForEach(r => Assert.That(r.Join(TimeSpan.FromSeconds(30)), Is.True));
        stop.Cancel();
        Assert.That(sampler.Join(TimeSpan.FromSeconds(30)), Is.True);

        LruCacheStatistics stats = cache.GetStatistics()!.Value;
        Assert.Multiple(() =>
        {
            Assert.That(stats.Hits, Is.EqualTo(hits), "every hit counted once");
            Assert.That(stats.Misses, Is.Zero);
            Assert.That(decreases.Take(5), Is.Empty);
        });
    }

    [Test]
    public void Misses_never_decrease_when_a_GetOrAdd_finds_the_key_stored_by_another_caller()
    {
        // The factory runs outside the lock; here it stores the key itself, as a racing caller
        // would. The GetOrAdd is then counted as one hit, and no counter ever goes down.
        LruCache<int, int>? cache = null;
        var samples = new List<LruCacheStatistics>();
        cache = new LruCache<int, int>(4, new LruCacheOptions<int, int> { TrackStatistics = true });
        int result = cache.GetOrAdd(1, k =>
        {
            samples.Add(cache.GetStatistics()!.Value);
            cache[k] = 10;
            samples.Add(cache.GetStatistics()!.Value);
            return 20;
        });
        samples.Add(cache.GetStatistics()!.Value);

        Assert.That(result, Is.EqualTo(10));
        for (int i = 1; i < samples.Count; i++)
        {
            Assert.That(samples[i].Misses, Is.GreaterThanOrEqualTo(samples[i - 1].Misses), $"sample {i}: {samples[i]} after {samples[i - 1]}");
            Assert.That(samples[i].Hits, Is.GreaterThanOrEqualTo(samples[i - 1].Hits), $"sample {i}: {samples[i]} after {samples[i - 1]}");
        }

        Assert.That(samples[^1], Is.EqualTo(new LruCacheStatistics(hits: 1, misses: 0, evictions: 0, expirations: 0)));
    }
}
