using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class TtlLruCacheTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _time = new();

    [TestCase(0)]
    [TestCase(-1)]
    public void Time_to_live_that_is_not_positive_is_rejected_naming_the_argument(long ticks)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => _ = new TtlLruCache<int, int>(4, TimeSpan.FromTicks(ticks)));
        Assert.That(ex!.ParamName, Is.EqualTo("timeToLive"));
    }

    [Test]
    public void Capacity_that_is_not_positive_is_rejected_naming_the_argument()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => _ = new TtlLruCache<int, int>(0, Ttl));
        Assert.That(ex!.ParamName, Is.EqualTo("capacity"));
    }

    [Test]
    public void An_entry_is_alive_just_before_its_time_to_live_and_gone_at_it()
    {
        var cache = new TtlLruCache<string, int>(4, Ttl, _time);
        cache["a"] = 1;

        _time.Advance(Ttl - TimeSpan.FromTicks(1));
        Assert.That(cache.TryGetValue("a", out int value), Is.True);
        Assert.That(value, Is.EqualTo(1));

        _time.Advance(TimeSpan.FromTicks(1));
        Assert.That(cache.TryGetValue("a", out _), Is.False);
        Assert.That(cache.GetValueOrDefault("a", -1), Is.EqualTo(-1));
        Assert.Throws<KeyNotFoundException>(() => _ = cache["a"]);
    }

    [Test]
    public void Reads_do_not_extend_an_entrys_life()
    {
        var cache = new TtlLruCache<string, int>(4, Ttl, _time);
        cache["a"] = 1;
        for (int i = 0; i < 9; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            Assert.That(cache.TryGetValue("a", out _), Is.True);
        }

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(cache.TryGetValue("a", out _), Is.False);
    }

    [Test]
    public void A_write_starts_the_entrys_life_again()
    {
        var cache = new TtlLruCache<string, int>(4, Ttl, _time);
        cache["a"] = 1;
        _time.Advance(TimeSpan.FromSeconds(9));
        cache["a"] = 2;
        _time.Advance(TimeSpan.FromSeconds(9));
        Assert.That(cache["a"], Is.EqualTo(2));
    }

    [Test]
    public void GetOrAdd_replaces_an_expired_entry()
    {
        var cache = new TtlLruCache<string, int>(4, Ttl, _time);
        cache.GetOrAdd("a", 1);
        _time.Advance(Ttl);
        Assert.That(cache.GetOrAdd("a", 2), Is.EqualTo(2));
        Assert.That(cache["a"], Is.EqualTo(2));
    }

    [Test]
    public void Expired_entries_are_removed_lazily_at_most_two_per_write_and_reported_as_expired()
    {
        var removals = new List<(int Key, CacheRemovalReason Reason)>();
        var cache = new TtlLruCache<int, int>(100, Ttl, _time, new LruCacheOptions<int, int>
        {
            OnRemoved = (k, _, r) => removals.Add((k, r)),
            TrackStatistics = true,
        });
        for (int i = 0; i < 10; i++)
        {
            cache[i] = i;
        }

        _time.Advance(Ttl);
        Assert.That(cache.Count, Is.EqualTo(10), "nothing is swept until an operation touches the cache");

        cache[100] = 100;
        Assert.That(removals, Is.EqualTo(new[] { (0, CacheRemovalReason.Expired), (1, CacheRemovalReason.Expired) }));
        Assert.That(cache.Count, Is.EqualTo(9));

        // A read that finds an expired entry removes it and at most two more.
        removals.Clear();
        Assert.That(cache.TryGetValue(7, out _), Is.False);
        Assert.That(removals, Is.EqualTo(new[] { (7, CacheRemovalReason.Expired), (2, CacheRemovalReason.Expired), (3, CacheRemovalReason.Expired) }));
        Assert.That(cache.Count, Is.EqualTo(6));
        Assert.That(cache.GetStatistics()!.Value.Expirations, Is.EqualTo(5));
    }

    [Test]
    public void Removing_an_expired_entry_reports_false_and_the_removal_as_expired()
    {
        var removals = new List<CacheRemovalReason>();
        var cache = new TtlLruCache<int, int>(4, Ttl, _time, new LruCacheOptions<int, int> { OnRemoved = (_, _, r) => removals.Add(r) });
        cache[1] = 1;
        _time.Advance(Ttl);
        Assert.That(cache.Remove(1), Is.False);
        Assert.That(removals, Is.EqualTo(new[] { CacheRemovalReason.Expired }));
        Assert.That(cache.Count, Is.Zero);
    }

    [Test]
    public void An_expired_least_recent_entry_is_reported_as_expired_when_it_makes_room()
    {
        var removals = new List<(int, CacheRemovalReason)>();
        var cache = new TtlLruCache<int, int>(2, Ttl, _time, new LruCacheOptions<int, int> { OnRemoved = (k, _, r) => removals.Add((k, r)) });
        cache[1] = 1;
        _time.Advance(TimeSpan.FromSeconds(5));
        cache[2] = 2;
        cache.TryGetValue(1, out _); // 1 is now the most recent, 2 the least
        cache[3] = 3;
        Assert.That(removals, Is.EqualTo(new[] { (2, CacheRemovalReason.Evicted) }));

        _time.Advance(TimeSpan.FromSeconds(5)); // 1 expires; 3 and the purge see it first
        cache[4] = 4;
        Assert.That(removals[1..], Is.EqualTo(new[] { (1, CacheRemovalReason.Expired) }));
    }

    [Test]
    public void Memory_is_bounded_by_the_capacity_whatever_the_volume_of_inserts()
    {
        var cache = new TtlLruCache<int, int>(64, Ttl, _time);
        for (int i = 0; i < 100_000; i++)
        {
            cache[i] = i;
            if (i % 1000 == 0)
            {
                _time.Advance(TimeSpan.FromSeconds(1));
            }

            Assert.That(cache.Count, Is.LessThanOrEqualTo(64));
        }
    }

    [Test]
    public void A_write_whose_key_hash_throws_still_reports_the_expired_entries_it_removed_and_leaves_the_cache_usable()
    {
        var removals = new List<(int, int, CacheRemovalReason)>();
        var cache = new TtlLruCache<HashKey, int>(4, Ttl, _time, new LruCacheOptions<HashKey, int>
        {
            OnRemoved = (k, v, r) => removals.Add((k.Id, v, r)),
        });
        cache[new HashKey(1)] = 1;
        cache[new HashKey(2)] = 2;
        _time.Advance(Ttl);

        // The write first takes out the two expired entries, then hashes its key, which throws.
        Assert.Throws<InvalidOperationException>(() => cache[new HashKey(3, throws: true)] = 3);

        Assert.That(removals, Is.EqualTo(new[] { (1, 1, CacheRemovalReason.Expired), (2, 2, CacheRemovalReason.Expired) }));
        Assert.That(cache.Count, Is.Zero);
        cache[new HashKey(4)] = 4;
        Assert.That(cache.TryGetValue(new HashKey(4), out int four) ? four : -1, Is.EqualTo(4));
        Assert.That(cache.Count, Is.EqualTo(1));
    }

    [Test]
    public void When_a_failing_write_and_its_removal_callback_both_throw_both_exceptions_surface()
    {
        var cache = new TtlLruCache<HashKey, int>(4, Ttl, _time, new LruCacheOptions<HashKey, int>
        {
            OnRemoved = (_, _, _) => throw new FormatException("callback"),
        });
        cache[new HashKey(1)] = 1;
        _time.Advance(Ttl);

        var ex = Assert.Throws<AggregateException>(() => cache[new HashKey(3, throws: true)] = 3);

        Assert.That(ex!.InnerExceptions.Select(e => e.GetType()), Is.EqualTo(new[] { typeof(InvalidOperationException), typeof(FormatException) }));
        Assert.That(cache.Count, Is.Zero);
    }

    /// <summary>A key whose hash code can be made to throw, as a buggy user key might.</summary>
    private sealed class HashKey(int id, bool throws = false) : IEquatable<HashKey>
    {
        public int Id { get; } = id;

        public bool Equals(HashKey? other) => other is not null && other.Id == Id;

        public override bool Equals(object? obj) => Equals(obj as HashKey);

        public override int GetHashCode() => throws ? throw new InvalidOperationException("hash") : Id;
    }

    [Test]
    public void The_clock_and_time_to_live_are_observable()
    {
        var cache = new TtlLruCache<int, int>(4, Ttl, _time);
        Assert.Multiple(() =>
        {
            Assert.That(cache.TimeToLive, Is.EqualTo(Ttl));
            Assert.That(cache.TimeProvider, Is.SameAs(_time));
            Assert.That(cache.Capacity, Is.EqualTo(4));
            Assert.That(new TtlLruCache<int, int>(4, Ttl).TimeProvider, Is.SameAs(TimeProvider.System));
        });
    }

    [Test]
    public void A_huge_time_to_live_does_not_overflow()
    {
        var cache = new TtlLruCache<int, int>(4, TimeSpan.MaxValue, _time);
        cache[1] = 1;
        _time.Advance(TimeSpan.FromDays(365 * 100));
        Assert.That(cache[1], Is.EqualTo(1));
    }

    [Test]
    public void On_the_system_clock_an_entry_expires_within_one_os_tick_of_its_time_to_live()
    {
        // Real time is the point of this test; it spins (no sleep) for about 20 ms, bounded at 10 s.
        var ttl = TimeSpan.FromMilliseconds(20);
        var cache = new TtlLruCache<int, int>(4, ttl);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        cache[1] = 1;
        while (cache.TryGetValue(1, out _))
        {
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "the entry never expired");
            Thread.Yield();
        }

        // The OS tick is at most about 16 ms, so the entry lived at least the TTL less one tick.
        Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(ttl - TimeSpan.FromMilliseconds(17)));
    }
}
