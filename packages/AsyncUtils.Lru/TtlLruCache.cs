using System.Diagnostics.CodeAnalysis;

namespace AsyncUtils;

/// <summary>
/// A map that holds at most <see cref="Capacity"/> entries, evicts the least recently used one to
/// make room, and forgets every entry <see cref="TimeToLive"/> after it was written. Reads make a
/// key the most recent but do not extend its life.
/// </summary>
/// <remarks>
/// <para>
/// <b>Expiry.</b> An entry is alive strictly before <c>written + TimeToLive</c> and never returned
/// from that instant on; time comes from the <see cref="System.TimeProvider"/> given at creation.
/// On <see cref="TimeProvider.System"/> (the default) expiry is measured with
/// <see cref="Environment.TickCount64"/>, so it has the operating system tick's resolution
/// (1 to 16 ms): a read costs a few nanoseconds instead of a high-resolution clock call. Any other
/// provider, such as a fake clock in tests, is used exactly.
/// Expired entries are removed lazily with bounded work: each write removes at most two expired
/// entries (oldest first) besides what it evicts, and a read that finds an expired entry removes it
/// and at most two more. Memory is bounded by <see cref="Capacity"/>, never by the volume of inserts.
/// <see cref="Count"/> includes expired entries not yet removed.
/// </para>
/// <para>
/// <b>Thread safety.</b> Every member is safe to call from any number of threads at once, with no
/// external lock. A live hit takes no lock and allocates nothing; writes take a short lock. Once a
/// write returns, <see cref="Count"/> is at most <see cref="Capacity"/>, and a read returns only a
/// value that was written for that key and has not expired.
/// </para>
/// <para>
/// <b>Order.</b> Whenever operations do not overlap in time (one thread, or an async flow hopping
/// between threads) the eviction order is exactly least-recently-used; an expired least-recent entry is reported as
/// <see cref="CacheRemovalReason.Expired"/>, not <see cref="CacheRemovalReason.Evicted"/>.
/// </para>
/// <para>
/// <b>No <c>ContainsKey</c>, no enumeration.</b> Checking whether a key is present and then reading
/// it is a time-of-check/time-of-use bug in a cache, doubly so when entries expire. Use
/// <see cref="TryGetValue"/> or <see cref="GetOrAdd(TKey, TValue)"/>, which answer both at once.
/// </para>
/// <para><b>Complexity.</b> Every operation is O(1) but <see cref="Clear"/>, which is O(n).</para>
/// </remarks>
/// <typeparam name="TKey">The key type. <see langword="null"/> keys are rejected.</typeparam>
/// <typeparam name="TValue">The value type.</typeparam>
public sealed class TtlLruCache<TKey, TValue>
    where TKey : notnull
{
    private readonly LruCore<TKey, TValue> _core;
    private readonly TimeSpan _timeToLive;

    /// <summary>Creates an empty cache on the system clock.</summary>
    /// <param name="capacity">The most entries the cache holds; greater than zero.</param>
    /// <param name="timeToLive">How long an entry lives after it was written; greater than zero.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> or <paramref name="timeToLive"/> is zero or negative.</exception>
    public TtlLruCache(int capacity, TimeSpan timeToLive)
        : this(capacity, timeToLive, null, null)
    {
    }

    /// <summary>Creates an empty cache on the given clock.</summary>
    /// <param name="capacity">The most entries the cache holds; greater than zero.</param>
    /// <param name="timeToLive">How long an entry lives after it was written; greater than zero.</param>
    /// <param name="timeProvider">The clock; <see langword="null"/> means <see cref="TimeProvider.System"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> or <paramref name="timeToLive"/> is zero or negative.</exception>
    public TtlLruCache(int capacity, TimeSpan timeToLive, TimeProvider? timeProvider)
        : this(capacity, timeToLive, timeProvider, null)
    {
    }

    /// <summary>Creates an empty cache on the given clock, with optional settings.</summary>
    /// <param name="capacity">The most entries the cache holds; greater than zero.</param>
    /// <param name="timeToLive">How long an entry lives after it was written; greater than zero.</param>
    /// <param name="timeProvider">The clock; <see langword="null"/> means <see cref="TimeProvider.System"/>.</param>
    /// <param name="options">Comparer, removal callback and statistics; copied, may be <see langword="null"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> or <paramref name="timeToLive"/> is zero or negative.</exception>
    public TtlLruCache(int capacity, TimeSpan timeToLive, TimeProvider? timeProvider, LruCacheOptions<TKey, TValue>? options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeToLive, TimeSpan.Zero);
        _timeToLive = timeToLive;
        _core = new LruCore<TKey, TValue>(capacity, timeToLive, timeProvider, options);
    }

    /// <summary>How long an entry lives after it was written.</summary>
    public TimeSpan TimeToLive => _timeToLive;

    /// <summary>The clock that expiry is measured on.</summary>
    public TimeProvider TimeProvider => _core.TimeProvider;

    /// <summary>The most entries the cache holds.</summary>
    public int Capacity => _core.Capacity;

    /// <summary>The number of entries now stored, including expired ones not yet removed; never above <see cref="Capacity"/> once a write has returned.</summary>
    public int Count => _core.Count;

    /// <summary>Reads or writes the value for a key; either makes the key the most recent.</summary>
    /// <param name="key">The key.</param>
    /// <exception cref="KeyNotFoundException">On read, the key is not in the cache.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is <see langword="null"/>.</exception>
    public TValue this[TKey key]
    {
        get => _core.TryGetValue(key, out TValue? value) ? value : throw LruThrow.KeyNotFound(key);
        set => _core.Set(key, value);
    }

    /// <summary>Reads the live value for a key and, when found, makes it the most recent. Lock-free and allocation-free on a hit.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value, when found.</param>
    /// <returns><see langword="true"/> when a live entry was found.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is <see langword="null"/>.</exception>
    public bool TryGetValue(TKey key, [MaybeNullWhen(false)] out TValue value) => _core.TryGetValue(key, out value);

    /// <summary>Reads the value for a key, or <paramref name="defaultValue"/> when it is absent.</summary>
    /// <param name="key">The key.</param>
    /// <param name="defaultValue">What to return when the key is absent.</param>
    /// <returns>The stored value or <paramref name="defaultValue"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is <see langword="null"/>.</exception>
    public TValue GetValueOrDefault(TKey key, TValue defaultValue) =>
        _core.TryGetValue(key, out TValue? value) ? value : defaultValue;

    /// <summary>
    /// Returns the value stored for a key, storing <paramref name="value"/> first if the key is
    /// absent or expired (<c>setdefault</c> in the Python library async-utils). Either way the key becomes the most recent.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value to store when the key is absent.</param>
    /// <returns>The value now stored for the key. When it is not <paramref name="value"/>, the
    /// caller still owns <paramref name="value"/>: it is not reported to <c>OnRemoved</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is <see langword="null"/>.</exception>
    public TValue GetOrAdd(TKey key, TValue value) => _core.GetOrAdd(key, value);

    /// <summary>
    /// Returns the value stored for a key, creating and storing one if it is absent. The factory
    /// runs outside the cache's lock, so racing callers may each run it; exactly one result is
    /// stored and every caller gets the stored one. Every other result is reported to
    /// <see cref="LruCacheOptions{TKey, TValue}.OnRemoved"/> as <see cref="CacheRemovalReason.Discarded"/>,
    /// so values disposed there never leak.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="valueFactory">Creates the value for an absent key.</param>
    /// <returns>The value now stored for the key.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="valueFactory"/> is <see langword="null"/>.</exception>
    public TValue GetOrAdd(TKey key, Func<TKey, TValue> valueFactory)
    {
        ArgumentNullException.ThrowIfNull(valueFactory);
        return _core.GetOrAdd(key, static (k, factory) => factory(k), valueFactory);
    }

    /// <summary>
    /// Returns the value stored for a key, creating and storing one if it is absent, passing
    /// <paramref name="factoryArgument"/> to the factory so that no closure is allocated. The
    /// factory runs outside the cache's lock; see <see cref="GetOrAdd(TKey, Func{TKey, TValue})"/>.
    /// </summary>
    /// <typeparam name="TArg">The factory argument's type.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="valueFactory">Creates the value for an absent key.</param>
    /// <param name="factoryArgument">Passed to <paramref name="valueFactory"/>.</param>
    /// <returns>The value now stored for the key.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="valueFactory"/> is <see langword="null"/>.</exception>
    public TValue GetOrAdd<TArg>(TKey key, Func<TKey, TArg, TValue> valueFactory, TArg factoryArgument) =>
        _core.GetOrAdd(key, valueFactory, factoryArgument);

    /// <summary>Removes a key. A missing key is not an error.</summary>
    /// <param name="key">The key.</param>
    /// <returns><see langword="true"/> when a live entry was removed; an expired one is removed as expired and reports <see langword="false"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is <see langword="null"/>.</exception>
    public bool Remove(TKey key) => _core.Remove(key, out _);

    /// <summary>Removes a key and returns its value. A missing key is not an error.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The removed value, when an entry was removed.</param>
    /// <returns><see langword="true"/> when a live entry was removed; an expired one is removed as expired and reports <see langword="false"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is <see langword="null"/>.</exception>
    public bool Remove(TKey key, [MaybeNullWhen(false)] out TValue value) => _core.Remove(key, out value);

    /// <summary>Removes every entry, reporting each as <see cref="CacheRemovalReason.Removed"/>. O(n).</summary>
    public void Clear() => _core.Clear();

    /// <summary>
    /// Returns the hit, miss, eviction and expiry counters, or <see langword="null"/> unless
    /// <see cref="LruCacheOptions{TKey, TValue}.TrackStatistics"/> was set.
    /// </summary>
    /// <returns>A snapshot of the counters, or <see langword="null"/>.</returns>
    public LruCacheStatistics? GetStatistics() => _core.GetStatistics();
}
