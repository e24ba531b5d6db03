// Support code for the tests ported from BitFaster.Caching (github.com/bitfaster/BitFaster.Caching):
// ValueFactory and DisposableItem are ported from BitFaster.Caching.UnitTests/Lru/ValueFactory.cs,
// BitFaster.Caching.UnitTests/Lru/DisposableValueFactory.cs and BitFaster.Caching.UnitTests/Lru/DisposableItem.cs;
// Threaded from BitFaster.Caching.UnitTests/Threaded.cs. CacheUnderTest, Ledger and
// IntegrityCheck are ours: one surface over LruCache and TtlLruCache, and the black-box
// counterpart of upstream's ConcurrentLruIntegrityChecker (our lists are internal).
using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Conformance.Tests;

/// <summary>Which of our caches a fixture runs against.</summary>
public enum CacheKind
{
    /// <summary><see cref="LruCache{TKey, TValue}"/>.</summary>
    Lru,

    /// <summary><see cref="TtlLruCache{TKey, TValue}"/> on a fake clock that only moves when a test moves it.</summary>
    TtlLru,
}

/// <summary>The members the ported tests use, over either cache.</summary>
internal sealed class CacheUnderTest<TKey, TValue>
    where TKey : notnull
{
    /// <summary>Long enough that nothing expires unless a test advances <see cref="Time"/>.</summary>
    public static readonly TimeSpan TimeToLive = TimeSpan.FromMinutes(10);

    private readonly LruCache<TKey, TValue>? _lru;
    private readonly TtlLruCache<TKey, TValue>? _ttl;

    public CacheUnderTest(CacheKind kind, int capacity, LruCacheOptions<TKey, TValue>? options = null, TimeSpan? timeToLive = null)
    {
        Kind = kind;
        if (kind == CacheKind.Lru)
        {
            _lru = new LruCache<TKey, TValue>(capacity, options);
        }
        else
        {
            _ttl = new TtlLruCache<TKey, TValue>(capacity, timeToLive ?? TimeToLive, Time, options);
        }
    }

    public CacheKind Kind { get; }

    public FakeTimeProvider Time { get; } = new();

    public int Capacity => _lru?.Capacity ?? _ttl!.Capacity;

    public int Count => _lru?.Count ?? _ttl!.Count;

    public bool TryGet(TKey key, [MaybeNullWhen(false)] out TValue value) =>
        _lru is not null ? _lru.TryGetValue(key, out value) : _ttl!.TryGetValue(key, out value);

    public TValue GetOrAdd(TKey key, Func<TKey, TValue> valueFactory) =>
        _lru is not null ? _lru.GetOrAdd(key, valueFactory) : _ttl!.GetOrAdd(key, valueFactory);

    public TValue GetOrAdd<TArg>(TKey key, Func<TKey, TArg, TValue> valueFactory, TArg factoryArgument) =>
        _lru is not null ? _lru.GetOrAdd(key, valueFactory, factoryArgument) : _ttl!.GetOrAdd(key, valueFactory, factoryArgument);

    public TValue GetOrAdd(TKey key, TValue value) =>
        _lru is not null ? _lru.GetOrAdd(key, value) : _ttl!.GetOrAdd(key, value);

    /// <summary>Upstream's <c>AddOrUpdate</c>: our indexer's setter.</summary>
    public void AddOrUpdate(TKey key, TValue value)
    {
        if (_lru is not null)
        {
            _lru[key] = value;
        }
        else
        {
            _ttl![key] = value;
        }
    }

    public bool TryRemove(TKey key) => _lru?.Remove(key) ?? _ttl!.Remove(key);

    public bool TryRemove(TKey key, [MaybeNullWhen(false)] out TValue value) =>
        _lru is not null ? _lru.Remove(key, out value) : _ttl!.Remove(key, out value);

    public void Clear()
    {
        if (_lru is not null)
        {
            _lru.Clear();
        }
        else
        {
            _ttl!.Clear();
        }
    }

    public LruCacheStatistics? Metrics => _lru is not null ? _lru.GetStatistics() : _ttl!.GetStatistics();
}

/// <summary>Ported from upstream's ValueFactory: counts calls, makes "key" or "key + arg".</summary>
internal sealed class ValueFactory
{
    public int TimesCalled;

    public string Create(int key)
    {
        TimesCalled++;
        return key.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    public string Create<TArg>(int key, TArg arg)
    {
        TimesCalled++;
        return $"{key}{arg}";
    }
}

/// <summary>Ported from upstream's DisposableItem.</summary>
internal sealed class DisposableItem : IDisposable
{
    private int _disposed;

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    public int DisposeCount => Volatile.Read(ref _disposed);

    public void Dispose() => Interlocked.Increment(ref _disposed);
}

/// <summary>
/// Ported from upstream's DisposableValueFactory. Adapted: our caches never dispose values
/// themselves; the owner does it in <c>OnRemoved</c>, which is what <see cref="Options"/> sets up.
/// </summary>
internal sealed class DisposableValueFactory
{
    public Dictionary<int, DisposableItem> Items { get; } = [];

    public static LruCacheOptions<int, DisposableItem> Options => new() { OnRemoved = static (_, item, _) => item.Dispose() };

    public DisposableItem Create(int key)
    {
        var item = new DisposableItem();
        Items.Add(key, item);
        return item;
    }
}

/// <summary>
/// Counts every value that entered a cache (a factory call or a write) and every removal
/// notification. At rest, entered = Count + removed: each value is reported exactly once when it
/// leaves, or discarded when its factory lost a race, and none is reported twice.
/// </summary>
internal sealed class Ledger
{
    private readonly long[] _removed = new long[Enum.GetValues<CacheRemovalReason>().Length];
    private long _entered;

    public long Entered => Volatile.Read(ref _entered);

    public long Removed => _removed.Sum(r => Volatile.Read(ref r));

    public long RemovedFor(CacheRemovalReason reason) => Volatile.Read(ref _removed[(int)reason]);

    public void Enter() => Interlocked.Increment(ref _entered);

    public LruCacheOptions<TKey, TValue> Options<TKey, TValue>(bool trackStatistics = false) => new()
    {
        OnRemoved = (_, _, reason) => Interlocked.Increment(ref _removed[(int)reason]),
        TrackStatistics = trackStatistics,
    };
}

internal static class IntegrityCheck
{
    /// <summary>
    /// The black-box counterpart of upstream's ConcurrentLruIntegrityChecker: the count is within
    /// capacity and equals the keys that can be read, every value read belongs to its key, and
    /// the ledger balances.
    /// </summary>
    public static void Validate<TValue>(CacheUnderTest<int, TValue> cache, int maxKey, Func<int, TValue, bool> valueBelongsToKey, Ledger? ledger = null)
    {
        int count = cache.Count;
        Assert.That(count, Is.LessThanOrEqualTo(cache.Capacity), "count within capacity");
        if (ledger is not null)
        {
            Assert.That(ledger.Entered, Is.EqualTo(count + ledger.Removed), "every value that entered is either stored or reported once");
        }

        var wrong = new List<string>();
        int live = 0;
        for (int key = 0; key <= maxKey; key++)
        {
            if (cache.TryGet(key, out TValue? value))
            {
                live++;
                if (!valueBelongsToKey(key, value))
                {
                    wrong.Add($"{key} -> {value}");
                }
            }
        }

        Assert.That(wrong, Is.Empty, "values read belong to their keys");
        Assert.That(live, Is.EqualTo(count), "the count matches the keys that can be read");
    }
}

/// <summary>Ported from upstream's Threaded: runs an action on several threads at once.</summary>
internal static class Threaded
{
    public static Task Run(int threadCount, Action action) => Run(threadCount, _ => action());

    public static async Task Run(int threadCount, Action<int> action)
    {
        using var start = new ManualResetEventSlim();
        var tasks = Enumerable.Range(0, threadCount)
            .Select(i => Task.Factory.StartNew(
                () =>
                {
                    start.Wait();
                    action(i);
                },
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default))
            .ToArray();
        start.Set();
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromMinutes(1)).ConfigureAwait(false);
    }
}
