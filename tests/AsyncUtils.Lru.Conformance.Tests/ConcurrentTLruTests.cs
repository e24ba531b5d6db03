// Ported from BitFaster.Caching (github.com/bitfaster/BitFaster.Caching),
// file BitFaster.Caching.UnitTests/Lru/ConcurrentTLruTests.cs, onto TtlLruCache.
// Adapted throughout: upstream waits on the wall clock (Timed.Execute, retried facts); we move a
// FakeTimeProvider, so each case is deterministic and exact to the tick. Not ported: the
// hot/warm/cold counts (our list is not segmented), TrimExpired/Trim (our expired entries are
// removed lazily with bounded work per call, see the README), event unregistration (OnRemoved is
// a setting, not an event).
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Conformance.Tests;

[FixtureLifeCycle(LifeCycle.InstancePerTestCase)] // Adapted: xUnit, upstream's runner, makes one instance per test
public sealed class ConcurrentTLruTests
{
    private static readonly TimeSpan TimeToLive = TimeSpan.FromMilliseconds(10);

    private readonly FakeTimeProvider _time = new();
    private readonly ValueFactory _valueFactory = new();
    private readonly List<(int Key, int Value, CacheRemovalReason Reason)> _removedItems = [];
    private TtlLruCache<int, string> _lru = null!;

    [SetUp]
    public void SetUp() => _lru = new TtlLruCache<int, string>(9, TimeToLive, _time);

    private TtlLruCache<int, int> CreateWithEvents(int capacity, TimeSpan timeToLive) =>
        new(capacity, timeToLive, _time, new LruCacheOptions<int, int> { OnRemoved = (k, v, r) => _removedItems.Add((k, v, r)) });

    [Test]
    public void TimeToLiveIsCtorArg() => Assert.That(_lru.TimeToLive, Is.EqualTo(TimeToLive));

    [Test]
    public void ConfiguredComparerIsUsed()
    {
        // Adapted: upstream's ComparerReturnsConfiguredComparer; we do not expose the comparer.
        var cache = new TtlLruCache<string, int>(3, TimeSpan.FromMinutes(1), _time, new LruCacheOptions<string, int> { Comparer = StringComparer.OrdinalIgnoreCase });
        cache["a"] = 1;
        Assert.That(cache.TryGetValue("A", out int value) ? value : -1, Is.EqualTo(1));
    }

    [Test]
    public void WhenItemIsNotExpiredItIsNotRemoved()
    {
        _lru.GetOrAdd(1, _valueFactory.Create);

        // Adapted: exact, one tick before the time to live.
        _time.Advance(TimeToLive - TimeSpan.FromTicks(1));
        Assert.That(_lru.TryGetValue(1, out _), Is.True);
    }

    [Test]
    public void WhenItemIsExpiredItIsRemoved()
    {
        _lru.GetOrAdd(1, _valueFactory.Create);

        // Adapted: upstream waits 2x the time to live; an entry is gone exactly at it.
        _time.Advance(TimeToLive);
        Assert.That(_lru.TryGetValue(1, out _), Is.False);
    }

    [Test]
    public void WhenItemIsUpdatedTtlIsExtended()
    {
        _lru.GetOrAdd(1, _valueFactory.Create);
        _time.Advance(TimeToLive / 2);

        _lru[1] = "3"; // Adapted: upstream's TryUpdate is our indexer's setter.
        _time.Advance(TimeToLive - TimeSpan.FromTicks(1));

        Assert.That(_lru.TryGetValue(1, out string? value) ? value : null, Is.EqualTo("3"));
    }

    [Test]
    public void WhenValueEvictedItemRemovedEventIsFired()
    {
        var lruEvents = CreateWithEvents(6, TimeSpan.FromSeconds(10));

        for (int i = 0; i < 8; i++)
        {
            lruEvents.GetOrAdd(i + 1, k => k + 1);
        }

        // Adapted: upstream's segmented queues evict keys 1 and 4; an exact LRU evicts the two
        // least recently used, keys 1 and 2.
        Assert.That(_removedItems, Is.EqualTo(new[] { (1, 2, CacheRemovalReason.Evicted), (2, 3, CacheRemovalReason.Evicted) }));
    }

    [Test]
    public void WhenItemsAreExpiredTheyAreNotReturnedAndAreReportedAsExpired()
    {
        // Adapted: upstream's WhenItemsAreExpiredExpireRemovesExpiredItems calls TrimExpired; we
        // have none. Expired entries are never returned and are removed lazily: a read that finds
        // one removes it (and at most two more), each write removes at most two.
        var cache = CreateWithEvents(9, TimeToLive);
        cache[1] = 1;
        cache[2] = 2;
        cache[3] = 3;

        _time.Advance(TimeToLive);

        Assert.That(cache.TryGetValue(1, out _), Is.False);
        Assert.That(cache.Count, Is.Zero);
        Assert.That(_removedItems.Select(r => (r.Key, r.Reason)), Is.EquivalentTo(new[]
        {
            (1, CacheRemovalReason.Expired), (2, CacheRemovalReason.Expired), (3, CacheRemovalReason.Expired),
        }));
    }

    [Test]
    public void WhenCacheHasExpiredAndFreshItemsOnlyExpiredItemsAreRemoved()
    {
        var cache = CreateWithEvents(9, TimeToLive);
        cache[1] = 1;
        cache[2] = 2;
        cache[3] = 3;
        _time.Advance(TimeToLive / 2);
        cache[4] = 4;
        cache[5] = 5;
        cache[6] = 6;
        _time.Advance(TimeToLive / 2);

        // Adapted: upstream re-adds 1-3 and calls TrimExpired; our writes remove the expired ones.
        cache.GetOrAdd(1, _ => 10);
        cache.GetOrAdd(2, _ => 20);
        cache.GetOrAdd(3, _ => 30);

        Assert.That(cache.Count, Is.EqualTo(6));
        Assert.That(_removedItems.Select(r => r.Key), Is.EquivalentTo(new[] { 1, 2, 3 }));
        Assert.That(_removedItems.All(r => r.Reason == CacheRemovalReason.Expired), Is.True);
        Assert.That(new[] { 4, 5, 6 }.All(k => cache.TryGetValue(k, out _)), Is.True);
    }

    [Test]
    public void WhenItemsAreExpiredCountIncludesThemUntilTheyAreRemoved()
    {
        // Adapted: upstream's WhenItemsAreExpiredCountFiltersExpiredItems. Our Count is O(1) and
        // includes expired entries not removed yet (documented); reads never return them.
        _lru[1] = "1";
        _lru[2] = "2";
        _lru[3] = "3";

        _time.Advance(TimeToLive);

        Assert.That(_lru.Count, Is.EqualTo(3));
        Assert.That(_lru.TryGetValue(2, out _), Is.False);
        Assert.That(_lru.Count, Is.Zero, "a read that finds an expired entry removes it and up to two more");
    }

    [Test]
    public void WhenItemsAreRemovedTheyLeaveNoTrace()
    {
        // Adapted: upstream's WhenItemsAreRemovedTrimExpiredRemovesDeletedItemsFromQueues. Our
        // Remove unlinks at once, so a later expiry reports nothing for them.
        var cache = CreateWithEvents(9, TimeToLive);
        cache[1] = 1;
        cache[2] = 2;
        cache.Remove(1);
        cache.Remove(2);
        _removedItems.Clear();

        _time.Advance(TimeToLive);
        cache[3] = 3;

        Assert.That(_removedItems, Is.Empty);
        Assert.That(cache.Count, Is.EqualTo(1));
    }

    [Test]
    public void ConstructCapacityCtorReturnsCapacity()
    {
        var x = new TtlLruCache<int, int>(3, TimeSpan.FromSeconds(1));
        Assert.That(x.Capacity, Is.EqualTo(3));
    }
}
