using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace AsyncUtils;

/// <summary>
/// A map that holds at most <see cref="Capacity"/> entries and, to make room, evicts by the
/// S3-FIFO policy (Yang et al., SOSP 2023) instead of exact recency: a hit is a dictionary lookup
/// and one plain store, so reads cost about what a <see cref="ConcurrentDictionary{TKey, TValue}"/>
/// read costs, and the policy keeps a frequently used set through scans that would flush an LRU.
/// </summary>
/// <remarks>
/// <para>
/// <b>Policy.</b> New keys enter a small FIFO queue (a tenth of the capacity); keys read at least
/// twice while there move to the main FIFO queue when they reach its end, the others are evicted
/// and their hash codes remembered in a ghost queue (as many as the main queue holds). A key found
/// in the ghost queue when it is inserted again goes straight to the main queue. Each entry counts
/// its hits up to 3; the main queue gives an entry with hits left another round (one hit fewer)
/// instead of evicting it. One-hit wonders therefore leave quickly, and a one-pass scan of new keys
/// cycles through the small queue without displacing the entries read repeatedly. The order is
/// approximate: this cache may evict an entry that was read more recently than one it keeps. When
/// you need exactly least-recently-used eviction, use <see cref="LruCache{TKey, TValue}"/>.
/// </para>
/// <para>
/// <b>Thread safety.</b> Every member is safe to call from any number of threads at once, with no
/// external lock. A hit takes no lock, uses no interlocked instruction and allocates nothing: its
/// hit count is a plain store, and hits that race may be lost, which only makes the policy slightly
/// less informed. Writes take a short lock. Once a write returns, <see cref="Count"/> is at most
/// <see cref="Capacity"/>, and a read returns only a value that was written for that key.
/// </para>
/// <para>
/// <b>Memory.</b> At most <see cref="Capacity"/> entries, plus the ghost queue: up to about 0.9 x
/// <see cref="Capacity"/> hash codes (no keys, no values). An entry removed, replaced, evicted or
/// cleared is unlinked at once; the cache keeps no reference to its key or value.
/// </para>
/// <para>
/// <b>No <c>ContainsKey</c>, no enumeration</b>, as for <see cref="LruCache{TKey, TValue}"/>: use
/// <see cref="TryGetValue"/> or <see cref="GetOrAdd(TKey, TValue)"/>, which answer both at once.
/// </para>
/// <para><b>Complexity.</b> A hit is O(1). A write is amortized O(1) over all operations: each step
/// of an eviction scan evicts, moves an entry from the small queue to the main one (once per
/// insertion), or spends one counted hit (at most one per read), and a scan of the main queue is
/// cut short after three passes even if racing reads keep counting. <see cref="Clear"/> is O(n).</para>
/// </remarks>
/// <typeparam name="TKey">The key type. <see langword="null"/> keys are rejected.</typeparam>
/// <typeparam name="TValue">The value type.</typeparam>
public sealed class S3FifoCache<TKey, TValue> : ILruMetricsSource
    where TKey : notnull
{
    private const int MaxFreq = 3;

    // An entry leaving the small queue moves to the main one when it was read at least this often.
    private const int PromoteAt = 2;

    private readonly ConcurrentDictionary<TKey, S3FifoNode<TKey, TValue>> _map;
    private readonly IEqualityComparer<TKey> _comparer;
    private readonly int _capacity;
    private readonly int _smallTarget;
    private readonly Action<TKey, TValue, CacheRemovalReason>? _onRemoved;
    private readonly bool _trackStatistics;
    private readonly string? _name;
    private readonly long[]? _readCounts; // hits and misses per stripe, padded; only with statistics
    private readonly int _stripeMask;

#if NET9_0_OR_GREATER
    private readonly Lock _sync = new();
#else
    private readonly object _sync = new();
#endif

    // Owned by _sync.
    private readonly S3FifoQueue<TKey, TValue> _small = new(S3FifoNode<TKey, TValue>.InSmall);
    private readonly S3FifoQueue<TKey, TValue> _main = new(S3FifoNode<TKey, TValue>.InMain);
    private readonly S3FifoGhost _ghost;
    private int _count;
    private long _evictions;
    private long _lockedHits;
    private long _lockedMisses;

    private const int Stride = 16; // longs per stripe: 128 bytes, so stripes never share a cache line

    /// <summary>Creates an empty cache.</summary>
    /// <param name="capacity">The most entries the cache holds; greater than zero.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is zero or negative.</exception>
    public S3FifoCache(int capacity)
        : this(capacity, null)
    {
    }

    /// <summary>Creates an empty cache with optional settings.</summary>
    /// <param name="capacity">The most entries the cache holds; greater than zero.</param>
    /// <param name="options">Comparer, removal callback, statistics and name; copied, may be <see langword="null"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is zero or negative.</exception>
    public S3FifoCache(int capacity, LruCacheOptions<TKey, TValue>? options)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _capacity = capacity;
        _smallTarget = Math.Max(1, capacity / 10);
        _ghost = new S3FifoGhost(Math.Max(1, capacity - _smallTarget));
        _comparer = options?.Comparer ?? EqualityComparer<TKey>.Default;
        _onRemoved = options?.OnRemoved;
        _trackStatistics = options?.TrackStatistics ?? false;
        _name = options?.Name;
        int concurrency = Environment.ProcessorCount;
        _map = new ConcurrentDictionary<TKey, S3FifoNode<TKey, TValue>>(concurrency, Math.Min(capacity, 1024) + 1, options?.Comparer);
        if (_trackStatistics)
        {
            int stripes = (int)Math.Min(64, BitOperations.RoundUpToPowerOf2((uint)concurrency * 2));
            _readCounts = new long[(stripes + 1) * Stride];
            _stripeMask = stripes - 1;
        }

        LruMetrics.Register(this);
    }

    /// <summary>The most entries the cache holds.</summary>
    public int Capacity => _capacity;

    /// <summary>The number of entries now stored; never above <see cref="Capacity"/> once a write has returned.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>The hash codes the ghost queue holds (for the tests: at most the main queue's share of the capacity).</summary>
    internal int GhostCount
    {
        get
        {
            lock (_sync)
            {
                return _ghost.Count;
            }
        }
    }

    /// <inheritdoc/>
    string? ILruMetricsSource.Name => _name;

    /// <summary>Reads or writes the value for a key. A read counts as a hit; a write keeps the key's place in its queue.</summary>
    /// <param name="key">The key.</param>
    /// <exception cref="KeyNotFoundException">On read, the key is not in the cache.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is <see langword="null"/>.</exception>
    public TValue this[TKey key]
    {
        get => TryGetValue(key, out TValue? value) ? value : throw LruThrow.KeyNotFound(key);
        set => Set(key, value);
    }

    /// <summary>
    /// Reads the value for a key and, when found, counts the hit for the eviction policy (a plain
    /// store, capped at 3). Lock-free, no interlocked instruction, allocates nothing.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value, when found.</param>
    /// <returns><see langword="true"/> when the key was found.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is <see langword="null"/>.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetValue(TKey key, [MaybeNullWhen(false)] out TValue value)
    {
        if (_map.TryGetValue(key, out S3FifoNode<TKey, TValue>? node))
        {
            if (node.Freq < MaxFreq)
            {
                node.Freq++;
            }

            if (_trackStatistics)
            {
                CountRead(0);
            }

            value = node.Value;
            return true;
        }

        if (_trackStatistics)
        {
            CountRead(1);
        }

        value = default;
        return false;
    }

    /// <summary>Reads the value for a key, or <paramref name="defaultValue"/> when it is absent.</summary>
    /// <param name="key">The key.</param>
    /// <param name="defaultValue">What to return when the key is absent.</param>
    /// <returns>The stored value or <paramref name="defaultValue"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is <see langword="null"/>.</exception>
    public TValue GetValueOrDefault(TKey key, TValue defaultValue) =>
        TryGetValue(key, out TValue? value) ? value : defaultValue;

    /// <summary>
    /// Returns the value stored for a key, storing <paramref name="value"/> first if the key is
    /// absent. A found key counts as a hit.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value to store when the key is absent.</param>
    /// <returns>The value now stored for the key. When it is not <paramref name="value"/>, the
    /// caller still owns <paramref name="value"/>: it is not reported to <c>OnRemoved</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is <see langword="null"/>.</exception>
    public TValue GetOrAdd(TKey key, TValue value)
    {
        if (TryGetHit(key, out TValue? existing))
        {
            return existing;
        }

        return AddIfAbsent(key, value, created: false);
    }

    /// <summary>
    /// Returns the value stored for a key, creating and storing one if it is absent. The factory
    /// runs outside the cache's lock, so racing callers may each run it; exactly one result is
    /// stored and every caller gets the stored one. Every other result is reported to
    /// <see cref="LruCacheOptions{TKey, TValue}.OnRemoved"/> as <see cref="CacheRemovalReason.Discarded"/>.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="valueFactory">Creates the value for an absent key.</param>
    /// <returns>The value now stored for the key.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="valueFactory"/> is <see langword="null"/>.</exception>
    public TValue GetOrAdd(TKey key, Func<TKey, TValue> valueFactory)
    {
        ArgumentNullException.ThrowIfNull(valueFactory);
        return GetOrAdd(key, static (k, factory) => factory(k), valueFactory);
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
    public TValue GetOrAdd<TArg>(TKey key, Func<TKey, TArg, TValue> valueFactory, TArg factoryArgument)
    {
        ArgumentNullException.ThrowIfNull(valueFactory);
        if (TryGetHit(key, out TValue? existing))
        {
            return existing;
        }

        return AddIfAbsent(key, valueFactory(key, factoryArgument), created: true);
    }

    /// <summary>Removes a key. A missing key is not an error.</summary>
    /// <param name="key">The key.</param>
    /// <returns><see langword="true"/> when an entry was removed.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is <see langword="null"/>.</exception>
    public bool Remove(TKey key) => Remove(key, out _);

    /// <summary>Removes a key and returns its value. A missing key is not an error.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The removed value, when an entry was removed.</param>
    /// <returns><see langword="true"/> when an entry was removed.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is <see langword="null"/>.</exception>
    public bool Remove(TKey key, [MaybeNullWhen(false)] out TValue value)
    {
        ThrowIfNull(key);
        S3FifoNode<TKey, TValue>? removed = null;
        lock (_sync)
        {
            if (_map.TryRemove(key, out S3FifoNode<TKey, TValue>? node))
            {
                UnlinkLocked(node);
                removed = node;
            }
        }

        if (removed is null)
        {
            value = default;
            return false;
        }

        value = removed.Value;
        _onRemoved?.Invoke(removed.Key, removed.Value, CacheRemovalReason.Removed);
        return true;
    }

    /// <summary>
    /// Removes every entry and forgets the ghost queue, reporting each entry as
    /// <see cref="CacheRemovalReason.Removed"/> after the lock is released. O(n).
    /// </summary>
    public void Clear()
    {
        S3FifoNode<TKey, TValue>? small, main;
        lock (_sync)
        {
            small = _small.DetachAll();
            main = _main.DetachAll();
            _map.Clear();
            _ghost.Clear();
            Volatile.Write(ref _count, 0);
        }

        if (_onRemoved is null)
        {
            return;
        }

        // The detached chains are no longer touched by the cache, so they are walked without the lock.
        List<Exception>? errors = null;
        foreach (S3FifoNode<TKey, TValue>? first in (ReadOnlySpan<S3FifoNode<TKey, TValue>?>)[small, main])
        {
            for (S3FifoNode<TKey, TValue>? node = first; node is not null;)
            {
                S3FifoNode<TKey, TValue>? next = node.Next;
                node.Next = node.Prev = null;
                S3FifoRemovals<TKey, TValue>.Invoke(_onRemoved, node.Key, node.Value, CacheRemovalReason.Removed, ref errors);
                node = next;
            }
        }

        ThrowIfAny(errors);
    }

    /// <summary>
    /// Returns the hit, miss and eviction counters, or <see langword="null"/> unless
    /// <see cref="LruCacheOptions{TKey, TValue}.TrackStatistics"/> was set. <c>Expirations</c> is always 0.
    /// </summary>
    /// <returns>A snapshot of the counters, or <see langword="null"/>.</returns>
    public LruCacheStatistics? GetStatistics() =>
        ((ILruMetricsSource)this).ReadCounters(out long hits, out long misses, out long evictions, out long expirations)
            ? new LruCacheStatistics(hits, misses, evictions, expirations)
            : null;

    /// <inheritdoc/>
    bool ILruMetricsSource.ReadCounters(out long hits, out long misses, out long evictions, out long expirations)
    {
        evictions = Volatile.Read(ref _evictions);
        expirations = 0;
        hits = misses = 0;
        if (_readCounts is null)
        {
            return false;
        }

        hits = Volatile.Read(ref _lockedHits);
        misses = Volatile.Read(ref _lockedMisses);
        for (int i = Stride; i < _readCounts.Length; i += Stride)
        {
            hits += Volatile.Read(ref _readCounts[i]);
            misses += Volatile.Read(ref _readCounts[i + 1]);
        }

        return true;
    }

    // ---------------------------------------------------------------- reads

    /// <summary>A read that counts a hit but not a miss (the write that follows counts the miss under the lock).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryGetHit(TKey key, [MaybeNullWhen(false)] out TValue value)
    {
        if (_map.TryGetValue(key, out S3FifoNode<TKey, TValue>? node))
        {
            if (node.Freq < MaxFreq)
            {
                node.Freq++;
            }

            if (_trackStatistics)
            {
                CountRead(0);
            }

            value = node.Value;
            return true;
        }

        value = default;
        return false;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void CountRead(int offset)
    {
        // Stripe 0 is padding, so the first stripe does not share a line with the array's header.
        int stripe = (Environment.CurrentManagedThreadId & _stripeMask) + 1;
        Interlocked.Increment(ref _readCounts![(stripe * Stride) + offset]);
    }

    // ---------------------------------------------------------------- writes

    private void Set(TKey key, TValue value)
    {
        ThrowIfNull(key);
        var node = new S3FifoNode<TKey, TValue>(key, value);
        S3FifoRemovals<TKey, TValue> removed = default;
        try
        {
            lock (_sync)
            {
                if (_map.TryGetValue(key, out S3FifoNode<TKey, TValue>? old))
                {
                    // One atomic swap in the map: a concurrent reader sees the old value or the new one.
                    // The new value takes the old one's place and counts as one more use.
                    _map[key] = node;
                    node.Freq = Math.Min(MaxFreq, old.Freq + 1);
                    (old.Queue == S3FifoNode<TKey, TValue>.InSmall ? _small : _main).ReplaceInPlace(old, node);
                    if (_onRemoved is not null)
                    {
                        removed.Add(old.Key, old.Value, CacheRemovalReason.Replaced);
                    }
                }
                else
                {
                    _map[key] = node;
                    InsertLocked(node, ref removed);
                }
            }
        }
        catch (Exception ex)
        {
            ReportAfterFailure(in removed, ex);
            throw;
        }

        Report(in removed);
    }

    private TValue AddIfAbsent(TKey key, TValue value, bool created)
    {
        S3FifoRemovals<TKey, TValue> removed = default;
        TValue result;
        try
        {
            lock (_sync)
            {
                var node = new S3FifoNode<TKey, TValue>(key, value);
                if (_map.TryAdd(key, node))
                {
                    // One map operation for the common case: the key is still absent.
                    InsertLocked(node, ref removed);
                    result = value;
                    if (_trackStatistics)
                    {
                        _lockedMisses++;
                    }
                }
                else if (_map.TryGetValue(key, out S3FifoNode<TKey, TValue>? existing))
                {
                    // Stored by another thread since our read missed: a hit.
                    if (existing.Freq < MaxFreq)
                    {
                        existing.Freq++;
                    }

                    result = existing.Value;
                    if (_trackStatistics)
                    {
                        _lockedHits++;
                    }

                    if (created && _onRemoved is not null)
                    {
                        // Lost the race: the factory's value never entered the cache.
                        removed.Add(key, value, CacheRemovalReason.Discarded);
                    }
                }
                else
                {
                    throw new InvalidOperationException("The cache's map changed outside its lock."); // unreachable: writes hold the lock
                }
            }
        }
        catch (Exception ex)
        {
            ReportAfterFailure(in removed, ex);
            throw;
        }

        Report(in removed);
        return result;
    }

    // ---------------------------------------------------------------- under the lock

    /// <summary>Links a node just added to the map, evicting one entry first if the cache is full.</summary>
    private void InsertLocked(S3FifoNode<TKey, TValue> node, ref S3FifoRemovals<TKey, TValue> removed)
    {
        int hash = _comparer.GetHashCode(node.Key);
        if (_count >= _capacity)
        {
            EvictLocked(ref removed);
        }

        if (_ghost.TryTake(hash))
        {
            _main.PushHead(node); // evicted from the small queue recently, and wanted again
        }
        else
        {
            _small.PushHead(node);
        }

        Volatile.Write(ref _count, _count + 1);
    }

    /// <summary>Evicts exactly one entry (the cache is full, so there is one).</summary>
    private void EvictLocked(ref S3FifoRemovals<TKey, TValue> removed)
    {
        if (_small.Count >= _smallTarget || _main.Count == 0)
        {
            // The small queue's oldest entries: read often enough, they move to the main queue;
            // otherwise the first one found is evicted and remembered in the ghost queue.
            while (_small.Tail is { } tail)
            {
                _small.Unlink(tail);
                if (tail.Freq >= PromoteAt)
                {
                    _main.PushHead(tail);
                }
                else
                {
                    _ghost.Add(_comparer.GetHashCode(tail.Key));
                    EvictedLocked(tail, ref removed);
                    return;
                }
            }
        }

        // The main queue's oldest entries: with hits left, another round with one hit fewer;
        // otherwise evicted. Racing readers could keep raising the counts, so the rounds are bounded.
        for (int rounds = (MaxFreq * _main.Count) + 1; ; rounds--)
        {
            S3FifoNode<TKey, TValue> tail = _main.Tail!;
            _main.Unlink(tail);
            if (tail.Freq > 0 && rounds > 0)
            {
                tail.Freq--;
                _main.PushHead(tail);
            }
            else
            {
                EvictedLocked(tail, ref removed);
                return;
            }
        }
    }

    private void EvictedLocked(S3FifoNode<TKey, TValue> node, ref S3FifoRemovals<TKey, TValue> removed)
    {
        _map.TryRemove(node.Key, out _);
        Volatile.Write(ref _count, _count - 1);
        _evictions++;
        if (_onRemoved is not null)
        {
            removed.Add(node.Key, node.Value, CacheRemovalReason.Evicted);
        }
    }

    private void UnlinkLocked(S3FifoNode<TKey, TValue> node)
    {
        (node.Queue == S3FifoNode<TKey, TValue>.InSmall ? _small : _main).Unlink(node);
        Volatile.Write(ref _count, _count - 1);
    }

    private static void ThrowIfNull(TKey key)
    {
        if (key is null)
        {
            throw new ArgumentNullException(nameof(key));
        }
    }

    private void Report(in S3FifoRemovals<TKey, TValue> removed)
    {
        if (!removed.IsEmpty)
        {
            ThrowIfAny(removed.DeliverAll(_onRemoved!));
        }
    }

    private void ReportAfterFailure(in S3FifoRemovals<TKey, TValue> removed, Exception error)
    {
        if (removed.IsEmpty)
        {
            return;
        }

        List<Exception>? errors = removed.DeliverAll(_onRemoved!);
        if (errors is not null)
        {
            errors.Insert(0, error);
            throw new AggregateException("The operation failed and removal callbacks threw.", errors);
        }
    }

    private static void ThrowIfAny(List<Exception>? errors)
    {
        if (errors is null)
        {
            return;
        }

        if (errors.Count == 1)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(errors[0]);
        }

        throw new AggregateException("More than one removal callback threw.", errors);
    }
}
