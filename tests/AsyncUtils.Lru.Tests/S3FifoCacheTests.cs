using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace AsyncUtils.Tests;

public sealed class S3FifoCacheTests
{
    [TestCase(0)]
    [TestCase(-1)]
    [TestCase(int.MinValue)]
    public void Capacity_that_is_not_positive_is_rejected_naming_the_argument(int capacity)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => _ = new S3FifoCache<int, int>(capacity));
        Assert.That(ex!.ParamName, Is.EqualTo("capacity"));
    }

    [Test]
    public void Null_keys_and_factories_are_rejected_naming_the_argument_and_leave_the_cache_usable()
    {
        var cache = new S3FifoCache<string, int>(2);
        cache["a"] = 1;

        Assert.Multiple(() =>
        {
            Assert.That(Assert.Throws<ArgumentNullException>(() => cache.TryGetValue(null!, out _))!.ParamName, Is.EqualTo("key"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => cache[null!] = 1)!.ParamName, Is.EqualTo("key"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => _ = cache[null!])!.ParamName, Is.EqualTo("key"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => cache.GetOrAdd(null!, 1))!.ParamName, Is.EqualTo("key"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => cache.Remove(null!))!.ParamName, Is.EqualTo("key"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => cache.GetOrAdd("b", (Func<string, int>)null!))!.ParamName, Is.EqualTo("valueFactory"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => cache.GetOrAdd("b", (Func<string, int, int>)null!, 1))!.ParamName, Is.EqualTo("valueFactory"));
        });

        Assert.That(cache["a"], Is.EqualTo(1));
        Assert.That(cache.Count, Is.EqualTo(1));
    }

    [Test]
    public void Reads_writes_and_removes_behave_as_a_map()
    {
        var cache = new S3FifoCache<int, string>(10);
        Assert.That(cache.Capacity, Is.EqualTo(10));
        cache[1] = "a";
        Assert.That(cache.GetOrAdd(1, "b"), Is.EqualTo("a"));
        Assert.That(cache.GetOrAdd(2, static k => $"v{k}"), Is.EqualTo("v2"));
        Assert.That(cache.GetOrAdd(3, static (k, p) => p + k, "w"), Is.EqualTo("w3"));
        cache[1] = "c";
        Assert.That(cache[1], Is.EqualTo("c"));
        Assert.That(cache.GetValueOrDefault(9, "none"), Is.EqualTo("none"));
        Assert.Throws<KeyNotFoundException>(() => _ = cache[9]);
        Assert.That(cache.Remove(1, out string? removed) && removed == "c", Is.True);
        Assert.That(cache.Remove(1), Is.False);
        Assert.That(cache.Count, Is.EqualTo(2));
        cache.Clear();
        Assert.That(cache.Count, Is.Zero);
        Assert.That(cache.TryGetValue(2, out _), Is.False);
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(10)]
    [TestCase(37)]
    public void Count_never_exceeds_capacity_under_random_single_threaded_operations(int capacity)
    {
        var cache = new S3FifoCache<int, int>(capacity);
        var model = new Dictionary<int, int>();
        var random = new Random(capacity);
        for (int i = 0; i < 20_000; i++)
        {
            int key = random.Next(capacity * 4);
            switch (random.Next(5))
            {
                case 0: cache[key] = i; break;
                case 1: cache.GetOrAdd(key, i); break;
                case 2: cache.Remove(key); break;
                default:
                    if (cache.TryGetValue(key, out int value))
                    {
                        Assert.That(value, Is.LessThanOrEqualTo(i), "a value that was written");
                    }

                    break;
            }

            Assert.That(cache.Count, Is.LessThanOrEqualTo(capacity));
        }
    }

    [Test]
    public void Concurrent_operations_keep_the_bound_return_only_written_values_and_report_every_value_once()
    {
        const int Capacity = 64;
        var reported = new ConcurrentDictionary<long, int>();
        var created = new StrongBox<long>(); // one counter: every value created is distinct
        var cache = new S3FifoCache<int, long>(Capacity, new LruCacheOptions<int, long>
        {
            OnRemoved = (_, value, _) => reported.AddOrUpdate(value, 1, static (_, n) => n + 1),
        });
        int failures = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(2);
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, t =>
        {
            var random = new Random(t);
            for (int i = 0; i < 200_000 && DateTime.UtcNow < deadline; i++)
            {
                int key = random.Next(Capacity * 3);
                switch (random.Next(8))
                {
                    case 0:
                        cache[key] = ((long)key << 32) | (uint)Interlocked.Increment(ref created.Value);
                        break;
                    case 1:
                        cache.Remove(key);
                        break;
                    case 2:
                        cache.GetOrAdd(key, static (k, counter) => ((long)k << 32) | (uint)Interlocked.Increment(ref counter.Value), created);
                        break;
                    default:
                        if (cache.TryGetValue(key, out long value) && (value >> 32) != key)
                        {
                            Interlocked.Increment(ref failures);
                        }

                        break;
                }

                if (cache.Count > Capacity)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        });

        int left = cache.Count;
        cache.Clear();
        Assert.Multiple(() =>
        {
            Assert.That(failures, Is.Zero, "a read returned another key's value, or Count exceeded the capacity");
            Assert.That(left, Is.LessThanOrEqualTo(Capacity));
            Assert.That(reported.Values.Where(n => n != 1), Is.Empty, "a value reported twice");
            Assert.That(reported, Has.Count.EqualTo(Volatile.Read(ref created.Value)), "a value never reported");
        });
    }

    [Test]
    public void One_hit_wonders_are_evicted_before_entries_that_were_reused()
    {
        var cache = new S3FifoCache<int, int>(10);
        for (int k = 0; k < 5; k++)
        {
            cache[k] = k;
            cache.TryGetValue(k, out _);
            cache.TryGetValue(k, out _);
        }

        for (int k = 100; k < 1_100; k++)
        {
            cache.GetOrAdd(k, k); // read once, never again
        }

        Assert.That(Enumerable.Range(0, 5).Where(k => !cache.TryGetValue(k, out _)), Is.Empty);
        Assert.That(cache.Count, Is.EqualTo(10));
    }

    [Test]
    public void A_scan_does_not_flush_the_frequently_used_set()
    {
        const int Capacity = 100;
        var s3 = new S3FifoCache<int, int>(Capacity);
        var lru = new LruCache<int, int>(Capacity);
        for (int round = 0; round < 3; round++)
        {
            for (int k = 0; k < 50; k++)
            {
                s3.GetOrAdd(k, k);
                lru.GetOrAdd(k, k);
            }
        }

        for (int k = 1_000; k < 1_000 + (10 * Capacity); k++)
        {
            s3.GetOrAdd(k, k);
            lru.GetOrAdd(k, k);
        }

        int s3Kept = Enumerable.Range(0, 50).Count(k => s3.TryGetValue(k, out _));
        int lruKept = Enumerable.Range(0, 50).Count(k => lru.TryGetValue(k, out _));
        Assert.That(s3Kept, Is.EqualTo(50), "S3-FIFO keeps the hot set through the scan");
        Assert.That(lruKept, Is.Zero, "the same scan flushes an exact LRU (the scenario is meaningful)");
    }

    [Test]
    public void A_key_inserted_again_soon_after_its_eviction_from_the_small_queue_goes_to_the_main_queue()
    {
        var cache = new S3FifoCache<int, int>(10);
        cache[1] = 1;
        for (int k = 2; k <= 11; k++)
        {
            cache[k] = k; // the 11th insert evicts 1 (oldest in the small queue, never read): it goes to the ghost queue
        }

        Assert.That(cache.TryGetValue(1, out _), Is.False);
        cache[1] = 1; // found in the ghost queue: admitted to the main queue
        for (int k = 100; k < 200; k++)
        {
            cache[k] = k; // one-hit wonders cycle through the small queue only
        }

        Assert.That(cache.TryGetValue(1, out _), Is.True, "re-admitted to the main queue, it survives the churn");

        // The control: a key that never left through the ghost queue does not survive the same churn.
        cache[500] = 500;
        for (int k = 200; k < 300; k++)
        {
            cache[k] = k;
        }

        Assert.That(cache.TryGetValue(500, out _), Is.False);
    }

    [Test]
    public void OnRemoved_reports_evicted_removed_replaced_discarded_and_cleared_entries_with_their_reason()
    {
        var log = new List<(int Key, string Value, CacheRemovalReason Reason)>();
        S3FifoCache<int, string> cache = null!;
        cache = new S3FifoCache<int, string>(2, new LruCacheOptions<int, string>
        {
            OnRemoved = (k, v, r) => log.Add((k, v, r)),
        });

        cache[1] = "a";
        cache[1] = "b";                       // Replaced a
        cache[2] = "c";
        cache[3] = "d";                       // Evicted: 1 ("b"), the oldest in the small queue
        cache.Remove(2);                      // Removed c
        string stored = cache.GetOrAdd(4, k =>
        {
            cache[k] = "stored-first";        // another writer wins the race while the factory runs
            return "lost";
        });                                   // Discarded lost (and the insert of 4 evicted nothing: 3 and 4 fit)
        cache.Clear();                        // Removed d and stored-first

        Assert.That(stored, Is.EqualTo("stored-first"));
        Assert.That(log, Is.EqualTo(new[]
        {
            (1, "a", CacheRemovalReason.Replaced),
            (1, "b", CacheRemovalReason.Evicted),
            (2, "c", CacheRemovalReason.Removed),
            (4, "lost", CacheRemovalReason.Discarded),
            (4, "stored-first", CacheRemovalReason.Removed),
            (3, "d", CacheRemovalReason.Removed),
        }));
    }

    [Test]
    public void A_throwing_OnRemoved_surfaces_from_the_operation_and_leaves_the_cache_consistent_and_usable()
    {
        int calls = 0;
        var cache = new S3FifoCache<int, int>(2, new LruCacheOptions<int, int>
        {
            OnRemoved = (_, _, _) =>
            {
                calls++;
                throw new InvalidOperationException("observer failed");
            },
        });

        cache[1] = 1;
        cache[2] = 2;
        Assert.Throws<InvalidOperationException>(() => cache[3] = 3); // evicts 1, callback throws
        Assert.Multiple(() =>
        {
            Assert.That(cache.Count, Is.EqualTo(2));
            Assert.That(cache.TryGetValue(3, out int three) && three == 3, Is.True, "the write itself happened");
            Assert.That(cache.TryGetValue(1, out _), Is.False);
        });

        Assert.Throws<InvalidOperationException>(() => cache.Remove(3));
        Assert.That(cache.TryGetValue(3, out _), Is.False, "removed although the callback threw");
        cache[4] = 4;
        var ex = Assert.Throws<AggregateException>(() => cache.Clear()); // two entries, two throws, both reported
        Assert.That(ex!.InnerExceptions, Has.Count.EqualTo(2));
        Assert.That(cache.Count, Is.Zero);
        Assert.That(calls, Is.EqualTo(4));
        cache[5] = 5;
        Assert.That(cache[5], Is.EqualTo(5));
    }

    [Test]
    public void Removed_replaced_evicted_and_cleared_values_are_not_kept_reachable()
    {
        var cache = new S3FifoCache<int, object>(4);
        WeakReference[] refs = Fill(cache);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.That(refs.Count(r => r.IsAlive), Is.Zero, "a value that left the cache is still reachable");
        Assert.That(refs, Has.Length.EqualTo(22));
        GC.KeepAlive(cache);

        [MethodImpl(MethodImplOptions.NoInlining)]
        static WeakReference[] Fill(S3FifoCache<int, object> cache)
        {
            var weak = new List<WeakReference>();
            object Track()
            {
                var value = new object();
                weak.Add(new WeakReference(value));
                return value;
            }

            cache[1] = Track();
            cache.Remove(1);                          // removed
            cache[2] = Track();
            cache[2] = new object();                  // replaced (the replacement stays until Clear)
            for (int k = 10; k < 30; k++)
            {
                cache[k] = Track();                   // most of these are evicted
            }

            cache.Clear();                            // the rest is cleared
            return [.. weak];
        }
    }

    [Test]
    public void Statistics_count_hits_misses_and_evictions_exactly_and_are_null_unless_asked_for()
    {
        Assert.That(new S3FifoCache<int, int>(2).GetStatistics(), Is.Null);

        var cache = new S3FifoCache<int, int>(2, new LruCacheOptions<int, int> { TrackStatistics = true });
        cache[1] = 1;
        cache[2] = 2;
        cache.TryGetValue(1, out _);        // hit
        cache.TryGetValue(9, out _);        // miss
        cache.GetOrAdd(2, 0);               // hit
        cache.GetOrAdd(3, 3);               // miss, evicts 1 (read once: freq 1 < 2)
        _ = cache.GetValueOrDefault(1, 0);  // miss

        Assert.That(cache.GetStatistics(), Is.EqualTo(new LruCacheStatistics(hits: 2, misses: 3, evictions: 1, expirations: 0)));
        cache.Clear();
        Assert.That(cache.GetStatistics()!.Value.Evictions, Is.EqualTo(1), "Clear is not an eviction and resets no counter");
    }

    [Test]
    public void Size_capacity_requests_and_evictions_are_published_by_the_lru_meter()
    {
        string name = $"s3fifo-test-{Guid.NewGuid():N}";
        using var recorder = new MetricsRecorder("AsyncUtils.Lru", "asyncutils.cache.name", name);
        var cache = new S3FifoCache<int, int>(2, new LruCacheOptions<int, int> { Name = name, TrackStatistics = true });
        cache[1] = 1;
        cache[2] = 2;
        cache.TryGetValue(1, out _);
        cache.TryGetValue(7, out _);
        cache[3] = 3;

        IReadOnlyList<MetricsRecorder.Recorded> observed = recorder.Observe();
        Assert.Multiple(() =>
        {
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.requests", ("asyncutils.cache.result", "hit")), Is.EqualTo(1));
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.requests", ("asyncutils.cache.result", "miss")), Is.EqualTo(1));
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.evictions", ("asyncutils.cache.eviction.reason", "capacity")), Is.EqualTo(1));
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.size"), Is.EqualTo(2));
            Assert.That(MetricsRecorder.Single(observed, "asyncutils.cache.capacity"), Is.EqualTo(2));
        });
        GC.KeepAlive(cache);
    }

    [Test]
    public void Hits_allocate_nothing()
    {
        var cache = new S3FifoCache<int, string>(1_000);
        for (int i = 0; i < 1_000; i++)
        {
            cache.GetOrAdd(i, static k => k.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        // Warm up, then measure rounds of hits; a per-hit allocation fails every round.
        int found = 0;
        long best = long.MaxValue;
        for (int round = 0; round < 3 && best != 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100_000; i++)
            {
                found += cache.TryGetValue(i % 1_000, out string? value) && value.Length > 0 ? 1 : 0;
                found += cache.GetOrAdd(i % 1_000, static k => "never").Length > 0 ? 1 : 0;
            }

            best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.That(found, Is.GreaterThan(0));
        Assert.That(best, Is.Zero);
    }

    [TestCase(10)]
    [TestCase(1_000)]
    public void The_ghost_queue_never_holds_more_than_the_main_queue_s_share_of_the_capacity(int capacity)
    {
        var cache = new S3FifoCache<int, int>(capacity);
        for (int i = 0; i < capacity * 100; i++)
        {
            cache.GetOrAdd(i, i); // one-hit wonders: every eviction from the small queue goes to the ghost
            if (i % 7 == 0)
            {
                cache.GetOrAdd(i / 2, i); // and some keys come back
            }
        }

        Assert.That(cache.GhostCount, Is.GreaterThan(0).And.LessThanOrEqualTo(capacity - Math.Max(1, capacity / 10)));
    }
}
