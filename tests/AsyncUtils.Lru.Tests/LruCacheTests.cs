namespace AsyncUtils.Tests;

public sealed class LruCacheTests
{
    [TestCase(0)]
    [TestCase(-1)]
    [TestCase(int.MinValue)]
    public void Capacity_that_is_not_positive_is_rejected_naming_the_argument(int capacity)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => _ = new LruCache<int, int>(capacity));
        Assert.That(ex!.ParamName, Is.EqualTo("capacity"));
    }

    [Test]
    public void Null_keys_are_rejected_by_every_member_and_leave_the_cache_usable()
    {
        var cache = new LruCache<string, int>(2);
        cache["a"] = 1;

        Assert.Multiple(() =>
        {
            Assert.That(Assert.Throws<ArgumentNullException>(() => cache.TryGetValue(null!, out _))!.ParamName, Is.EqualTo("key"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => cache[null!] = 1)!.ParamName, Is.EqualTo("key"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => _ = cache[null!])!.ParamName, Is.EqualTo("key"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => cache.GetOrAdd(null!, 1))!.ParamName, Is.EqualTo("key"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => cache.Remove(null!))!.ParamName, Is.EqualTo("key"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => cache.GetOrAdd("b", (Func<string, int>)null!))!.ParamName, Is.EqualTo("valueFactory"));
        });

        Assert.That(cache["a"], Is.EqualTo(1));
        cache["b"] = 2;
        Assert.That(cache.Count, Is.EqualTo(2));
    }

    [Test]
    public void Reading_a_missing_key_by_index_throws_KeyNotFoundException()
    {
        var cache = new LruCache<string, int>(2);
        var ex = Assert.Throws<KeyNotFoundException>(() => _ = cache["missing"]);
        Assert.That(ex!.Message, Does.Contain("missing"));
    }

    [Test]
    public void Insert_beyond_capacity_evicts_the_least_recently_written_entry()
    {
        var cache = new LruCache<int, string>(3);
        cache[1] = "one";
        cache[2] = "two";
        cache[3] = "three";
        cache[4] = "four";

        Assert.Multiple(() =>
        {
            Assert.That(cache.TryGetValue(1, out _), Is.False);
            Assert.That(cache[2], Is.EqualTo("two"));
            Assert.That(cache[4], Is.EqualTo("four"));
            Assert.That(cache.Count, Is.EqualTo(3));
        });
    }

    [Test]
    public void A_read_makes_the_key_most_recent_so_it_survives_the_next_eviction()
    {
        var cache = new LruCache<int, int>(3);
        cache[1] = 1;
        cache[2] = 2;
        cache[3] = 3;
        Assert.That(cache.TryGetValue(1, out _), Is.True);

        cache[4] = 4;

        Assert.That(cache.TryGetValue(2, out _), Is.False, "2 was the least recently used");
        Assert.That(cache.TryGetValue(1, out _), Is.True);
    }

    [Test]
    public void A_write_to_an_existing_key_replaces_the_value_and_makes_it_most_recent()
    {
        var cache = new LruCache<int, int>(2);
        cache[1] = 1;
        cache[2] = 2;
        cache[1] = 10;
        cache[3] = 3;

        Assert.Multiple(() =>
        {
            Assert.That(cache[1], Is.EqualTo(10));
            Assert.That(cache.TryGetValue(2, out _), Is.False);
            Assert.That(cache.Count, Is.EqualTo(2));
        });
    }

    [Test]
    public void Eviction_order_stays_exact_when_more_reads_are_buffered_than_a_stripe_holds()
    {
        const int n = 200; // far more reads than one read buffer holds
        var cache = new LruCache<int, int>(n);
        for (int i = 0; i < n; i++)
        {
            cache[i] = i;
        }

        int[] readOrder = [.. Enumerable.Range(0, n).OrderBy(i => (i * 7919) % n)];
        foreach (int key in readOrder)
        {
            Assert.That(cache.TryGetValue(key, out _), Is.True);
        }

        var evicted = new List<int>();
        var observed = new LruCache<int, int>(n, new LruCacheOptions<int, int>
        {
            OnRemoved = (k, _, reason) => { if (reason == CacheRemovalReason.Evicted) { evicted.Add(k); } },
        });
        for (int i = 0; i < n; i++)
        {
            observed[i] = i;
        }

        foreach (int key in readOrder)
        {
            observed.TryGetValue(key, out _);
        }

        for (int i = 0; i < n; i++)
        {
            observed[n + i] = i;
        }

        Assert.That(evicted, Is.EqualTo(readOrder));
    }

    [Test]
    public void GetOrAdd_stores_only_when_absent_and_returns_what_is_stored()
    {
        var cache = new LruCache<string, int>(4);
        Assert.That(cache.GetOrAdd("a", 1), Is.EqualTo(1));
        Assert.That(cache.GetOrAdd("a", 2), Is.EqualTo(1));
        Assert.That(cache["a"], Is.EqualTo(1));
    }

    [Test]
    public void GetOrAdd_with_a_factory_runs_it_only_for_an_absent_key()
    {
        var cache = new LruCache<string, int>(4);
        int calls = 0;
        Assert.That(cache.GetOrAdd("a", k => { calls++; return k.Length; }), Is.EqualTo(1));
        Assert.That(cache.GetOrAdd("a", _ => { calls++; return 99; }), Is.EqualTo(1));
        Assert.That(cache.GetOrAdd("bb", static (k, offset) => k.Length + offset, 100), Is.EqualTo(102));
        Assert.That(calls, Is.EqualTo(1));
    }

    [Test]
    public void GetValueOrDefault_returns_the_default_for_a_missing_key()
    {
        var cache = new LruCache<string, int>(4);
        cache["a"] = 1;
        Assert.That(cache.GetValueOrDefault("a", -1), Is.EqualTo(1));
        Assert.That(cache.GetValueOrDefault("b", -1), Is.EqualTo(-1));
    }

    [Test]
    public void Removing_a_missing_key_is_not_an_error()
    {
        var cache = new LruCache<string, int>(4);
        cache["a"] = 1;
        Assert.Multiple(() =>
        {
            Assert.That(cache.Remove("missing"), Is.False);
            Assert.That(cache.Remove("a", out int value), Is.True);
            Assert.That(value, Is.EqualTo(1));
            Assert.That(cache.Remove("a"), Is.False);
            Assert.That(cache.Count, Is.Zero);
        });
    }

    [Test]
    public void Clear_empties_the_cache_and_it_stays_usable()
    {
        var cache = new LruCache<int, int>(2);
        cache[1] = 1;
        cache[2] = 2;
        cache.TryGetValue(1, out _);
        cache.Clear();
        Assert.That(cache.Count, Is.Zero);
        Assert.That(cache.TryGetValue(1, out _), Is.False);

        cache[3] = 3;
        cache[4] = 4;
        cache[5] = 5;
        Assert.That(cache.Count, Is.EqualTo(2));
        Assert.That(cache.TryGetValue(3, out _), Is.False);
    }

    [Test]
    public void Every_removal_is_reported_once_with_its_reason()
    {
        var removals = new List<(int, string, CacheRemovalReason)>();
        var cache = new LruCache<int, string>(2, new LruCacheOptions<int, string>
        {
            OnRemoved = (k, v, r) => removals.Add((k, v, r)),
        });

        cache[1] = "a";
        cache[2] = "b";
        cache[1] = "a2";      // replaced
        cache[3] = "c";       // evicts 2
        cache.Remove(1);      // removed
        cache.Remove(42);     // nothing
        cache.Clear();        // removes 3

        Assert.That(removals, Is.EqualTo(new[]
        {
            (1, "a", CacheRemovalReason.Replaced),
            (2, "b", CacheRemovalReason.Evicted),
            (1, "a2", CacheRemovalReason.Removed),
            (3, "c", CacheRemovalReason.Removed),
        }));
    }

    [Test]
    public void A_factory_value_that_loses_the_GetOrAdd_race_is_reported_as_Discarded()
    {
        // The factory runs outside the lock; here it stores the key itself, as a racing caller would.
        var removals = new List<(string, string, CacheRemovalReason)>();
        LruCache<string, string> cache = null!;
        cache = new LruCache<string, string>(4, new LruCacheOptions<string, string>
        {
            OnRemoved = (k, v, r) => removals.Add((k, v, r)),
        });

        string result = cache.GetOrAdd("k", k =>
        {
            cache[k] = "winner";
            return "loser";
        });
        string withArgument = cache.GetOrAdd("j", (k, suffix) =>
        {
            cache[k] = "winner" + suffix;
            return "loser" + suffix;
        }, "2");

        Assert.Multiple(() =>
        {
            Assert.That(result, Is.EqualTo("winner"));
            Assert.That(withArgument, Is.EqualTo("winner2"));
            Assert.That(removals, Is.EqualTo(new[]
            {
                ("k", "loser", CacheRemovalReason.Discarded),
                ("j", "loser2", CacheRemovalReason.Discarded),
            }));
            Assert.That(cache.Count, Is.EqualTo(2));
            Assert.That(cache["k"], Is.EqualTo("winner"));
        });
    }

    [Test]
    public void A_value_passed_to_GetOrAdd_that_is_not_stored_is_not_reported_because_the_caller_still_holds_it()
    {
        var removals = new List<(int, string, CacheRemovalReason)>();
        var cache = new LruCache<int, string>(4, new LruCacheOptions<int, string> { OnRemoved = (k, v, r) => removals.Add((k, v, r)) });
        cache[1] = "stored";

        string offered = "offered";
        string result = cache.GetOrAdd(1, offered);

        Assert.That(result, Is.SameAs("stored"), "the result tells the caller its value was not stored");
        Assert.That(removals, Is.Empty);
    }

    [Test]
    public void A_removal_callback_may_call_back_into_the_cache()
    {
        LruCache<int, int>? cache = null;
        var seen = new List<int>();
        cache = new LruCache<int, int>(1, new LruCacheOptions<int, int>
        {
            OnRemoved = (k, _, _) => seen.Add(cache!.Count),
        });

        cache[1] = 1;
        cache[2] = 2;

        Assert.That(seen, Is.EqualTo(new[] { 1 }), "the callback ran after the write completed, outside the lock");
    }

    [Test]
    public void A_throwing_removal_callback_surfaces_but_leaves_the_cache_consistent_and_reports_the_rest()
    {
        var reported = new List<int>();
        var cache = new LruCache<int, int>(2, new LruCacheOptions<int, int>
        {
            OnRemoved = (k, _, _) =>
            {
                reported.Add(k);
                throw new InvalidOperationException($"callback failed for {k}");
            },
        });
        cache[1] = 1;
        cache[2] = 2;

        var ex = Assert.Throws<InvalidOperationException>(() => cache[3] = 3);
        Assert.That(ex!.Message, Is.EqualTo("callback failed for 1"));
        Assert.That(cache[3], Is.EqualTo(3));
        Assert.That(cache.Count, Is.EqualTo(2));

        var aggregate = Assert.Throws<AggregateException>(cache.Clear);
        Assert.That(aggregate!.InnerExceptions, Has.Count.EqualTo(2));
        Assert.That(reported, Is.EqualTo(new[] { 1, 3, 2 }));
        Assert.That(cache.Count, Is.Zero);
    }

    [Test]
    public void Statistics_are_null_unless_asked_for()
    {
        var cache = new LruCache<int, int>(2);
        cache[1] = 1;
        cache.TryGetValue(1, out _);
        Assert.That(cache.GetStatistics(), Is.Null);
    }

    [Test]
    public void Statistics_count_hits_misses_and_evictions()
    {
        var cache = new LruCache<int, int>(2, new LruCacheOptions<int, int> { TrackStatistics = true });
        cache[1] = 1;
        cache[2] = 2;
        cache.TryGetValue(1, out _);  // hit (recorded)
        cache.TryGetValue(1, out _);  // hit (already most recent)
        cache.TryGetValue(2, out _);  // hit
        cache.TryGetValue(9, out _);  // miss
        cache.GetOrAdd(3, 3);         // miss, then evicts 1
        cache.GetOrAdd(3, 4);         // hit
        _ = cache.GetValueOrDefault(1, 0); // miss

        LruCacheStatistics stats = cache.GetStatistics()!.Value;
        Assert.Multiple(() =>
        {
            Assert.That(stats.Hits, Is.EqualTo(4));
            Assert.That(stats.Misses, Is.EqualTo(3));
            Assert.That(stats.Evictions, Is.EqualTo(1));
            Assert.That(stats.Expirations, Is.Zero);
            Assert.That(stats.HitRatio, Is.EqualTo(4.0 / 7).Within(1e-12));
        });
    }

    [Test]
    public void Custom_key_comparer_is_used()
    {
        var cache = new LruCache<string, int>(2, new LruCacheOptions<string, int> { Comparer = StringComparer.OrdinalIgnoreCase });
        cache["Key"] = 1;
        Assert.That(cache["KEY"], Is.EqualTo(1));
    }

    [TestCase(typeof(LruCache<int, int>))]
    [TestCase(typeof(TtlLruCache<int, int>))]
    public void The_caches_offer_no_ContainsKey_and_no_enumeration_on_purpose(Type type)
    {
        Assert.Multiple(() =>
        {
            Assert.That(type.GetMethod("ContainsKey"), Is.Null);
            Assert.That(typeof(System.Collections.IEnumerable).IsAssignableFrom(type), Is.False);
            Assert.That(type.IsSealed, Is.True);
        });
    }
}
