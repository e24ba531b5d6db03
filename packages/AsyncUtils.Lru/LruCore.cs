using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace AsyncUtils;

/// <summary>
/// The engine behind <see cref="LruCache{TKey, TValue}"/> and <see cref="TtlLruCache{TKey, TValue}"/>.
/// </summary>
/// <remarks>
/// <para>
/// Entries live in a <see cref="ConcurrentDictionary{TKey, TValue}"/>, so a read finds its node
/// without a lock. The recency order is an intrusive doubly linked list owned by one lock. A hit
/// does not take that lock: it claims a slot in its thread's <see cref="ReadStripe{TNode}"/> (one
/// compare-and-swap on the stripe's tail, then plain stores), stamped with an epoch from the
/// <see cref="ReadClock"/>, and the buffered reads are applied in epoch order before any write and
/// whenever a stripe fills. A hit on the entry that is already the most recent records nothing.
/// Threads that share a stripe never overwrite each other's reads, and the stripe's tail counts
/// every recorded hit exactly.
/// </para>
/// <para>
/// Every write (insert, replace, remove, clear) takes the lock, applies the buffered reads first,
/// then changes the map and the lists together, so <c>Count</c> never exceeds the capacity once a
/// write has returned, and the entry evicted is exactly the least recently used one whenever
/// operations do not overlap in time, on one thread or hopping between threads. Reads that truly
/// race on different threads are applied in an order consistent with each thread's own order.
/// </para>
/// <para>
/// With a time to live, expiry is fixed at write time, so write order is expiry order: a second
/// intrusive list keeps it, and each write removes at most two expired entries from its head.
/// A read that finds an expired entry removes it (and at most two more) if the lock is free.
/// Memory is bounded by the capacity whatever the volume of inserts.
/// </para>
/// </remarks>
internal sealed class LruCore<TKey, TValue> : ILruMetricsSource
    where TKey : notnull
{
    private const int ExpiredPerOperation = 2;

    private readonly ConcurrentDictionary<TKey, LruEntry<TKey, TValue>> _map;
    private readonly ReadStripe<LruNode<TKey, TValue>>?[] _stripes;
    private readonly ReadClock _clock = new();
    private readonly ReadStripe<LruNode<TKey, TValue>>[] _pendingScratch; // owned by _sync
    private readonly int _stripeMask;
    private readonly int _capacity;
    private readonly long _ttlTicks;
    private readonly TimeProvider _timeProvider;
    private readonly bool _systemTime;
    private readonly Action<TKey, TValue, CacheRemovalReason>? _onRemoved;
    private readonly bool _trackStatistics;
    private readonly string? _name;

#if NET9_0_OR_GREATER
    private readonly Lock _sync = new();
#else
    private readonly object _sync = new();
#endif

    // Owned by _sync, in an object of its own: the lock holder rewrites it on every drain, and
    // readers on other cores should not find the core's read-only fields on that cache line.
    private readonly LruListState<TKey, TValue> _s = new();

    internal LruCore(int capacity, TimeSpan timeToLive, TimeProvider? timeProvider, LruCacheOptions<TKey, TValue>? options)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);

        _capacity = capacity;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _systemTime = ReferenceEquals(_timeProvider, TimeProvider.System);
        // On the system clock expiry is counted in Environment.TickCount64 milliseconds: a few
        // nanoseconds per read instead of a high-resolution clock call, at the price of the OS
        // tick's resolution. Any other provider's timestamps are used exactly.
        _ttlTicks = timeToLive == TimeSpan.Zero ? 0
            : ToTimestampTicks(timeToLive, _systemTime ? 1000 : _timeProvider.TimestampFrequency);
        _onRemoved = options?.OnRemoved;
        _trackStatistics = options?.TrackStatistics ?? false;

        int concurrency = Environment.ProcessorCount;
        _map = new ConcurrentDictionary<TKey, LruEntry<TKey, TValue>>(concurrency, Math.Min(capacity, 1024) + 1, options?.Comparer);

        int stripes = (int)Math.Min(64, BitOperations.RoundUpToPowerOf2((uint)concurrency * 4));
        _stripes = new ReadStripe<LruNode<TKey, TValue>>?[stripes];
        _stripeMask = stripes - 1;
        _pendingScratch = new ReadStripe<LruNode<TKey, TValue>>[stripes];
        _name = options?.Name;

        // Metrics read the counters above when a listener collects; nothing is added to any path.
        LruMetrics.Register(this);
    }

    internal int Capacity => _capacity;

    internal int Count => Volatile.Read(ref _s.Count);

    internal TimeProvider TimeProvider => _timeProvider;

    /// <inheritdoc/>
    public string? Name => _name;

    /// <inheritdoc/>
    int ILruMetricsSource.Count => Count;

    /// <inheritdoc/>
    int ILruMetricsSource.Capacity => _capacity;

    private bool HasTtl => _ttlTicks != 0;

    internal static long ToTimestampTicks(TimeSpan value, long frequency)
    {
        // Exact for frequencies that divide or are divided by 10^7 (FakeTimeProvider: 10^7,
        // Stopwatch on Linux: 10^9, milliseconds: 10^3); rounded up otherwise, never to zero.
        double ticks = frequency % TimeSpan.TicksPerSecond == 0
            ? (double)value.Ticks * (frequency / TimeSpan.TicksPerSecond)
            : Math.Ceiling(value.Ticks * ((double)frequency / TimeSpan.TicksPerSecond));
        return ticks >= long.MaxValue / 4 ? long.MaxValue / 4 : Math.Max(1, (long)ticks);
    }

    // ---------------------------------------------------------------- reads

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryGetValue(TKey key, [MaybeNullWhen(false)] out TValue value)
    {
        if (TryGetLive(key, out value))
        {
            return true;
        }

        if (_trackStatistics)
        {
            CountMiss();
        }

        return false;
    }

    /// <summary>A read that counts a hit but not a miss (GetOrAdd counts its miss under the lock).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryGetLive(TKey key, [MaybeNullWhen(false)] out TValue value)
    {
        if (_map.TryGetValue(key, out LruEntry<TKey, TValue>? entry))
        {
            if (!HasTtl || Now() < entry.ExpiresAt)
            {
                RecordHit(entry.Node);
                value = entry.Value;
                return true;
            }

            RemoveExpiredOnRead(entry.Node);
        }

        value = default;
        return false;
    }

    private long Now() => _systemTime ? Environment.TickCount64 : _timeProvider.GetTimestamp();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ReadStripe<LruNode<TKey, TValue>> CurrentStripe(out int index)
    {
        index = Environment.CurrentManagedThreadId & _stripeMask;
        return _stripes[index] ?? CreateStripe(index);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ReadStripe<LruNode<TKey, TValue>> CreateStripe(int index)
    {
        var stripe = new ReadStripe<LruNode<TKey, TValue>>();
        return Interlocked.CompareExchange(ref _stripes[index], stripe, null) ?? stripe;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void RecordHit(LruNode<TKey, TValue> node)
    {
        ReadStripe<LruNode<TKey, TValue>> stripe = CurrentStripe(out int index);
        long tail = Volatile.Read(ref stripe.Tail);
        long head = Volatile.Read(ref stripe.Head);

        // Nothing to record when the node is already the most recent: the newest read pending on
        // the stripe that recorded last (this one or another), or, when that stripe has nothing
        // pending, the head of the list. Only reads: threads hitting one hot key share the lines.
        int last = Volatile.Read(ref _clock.LastStripe);
        LruNode<TKey, TValue>? newest = last == index
            ? stripe.NewestPending(head, tail)
            : (uint)last < (uint)_stripes.Length ? _stripes[last]?.NewestPending() : null;
        if (ReferenceEquals(newest ?? Volatile.Read(ref _s.Head), node))
        {
            if (_trackStatistics)
            {
                Interlocked.Increment(ref stripe.Skipped);
            }

            return;
        }

        if (!stripe.TryAppend(head, tail, node, _clock.EpochFor(index)))
        {
            RecordHitSlow(stripe, index, node);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RecordHitSlow(ReadStripe<LruNode<TKey, TValue>> stripe, int index, LruNode<TKey, TValue> node)
    {
        SpinWait spinner = default;
        while (true)
        {
            long tail = Volatile.Read(ref stripe.Tail);
            long head = Volatile.Read(ref stripe.Head);
            if (tail - head >= ReadStripe<LruNode<TKey, TValue>>.Size)
            {
                // The stripe is full: apply every buffered read, then record this one.
                lock (_sync)
                {
                    DrainReadsLocked();
                }

                if (Volatile.Read(ref stripe.Head) == head)
                {
                    // Nothing applied: the oldest slot is claimed by a reader that has not written
                    // it yet (it was paused between its two steps). Let it finish.
                    spinner.SpinOnce();
                }

                continue;
            }

            // False also when another reader of this stripe claimed the slot first: try the next.
            if (stripe.TryAppend(head, tail, node, _clock.EpochFor(index)))
            {
                return;
            }
        }
    }

    private void CountMiss() => Interlocked.Increment(ref CurrentStripe(out _).Misses);

    private void RemoveExpiredOnRead(LruNode<TKey, TValue> node)
    {
        RemovalBatch<TKey, TValue> removed = default;
#if NET9_0_OR_GREATER
        if (!_sync.TryEnter())
#else
        if (!Monitor.TryEnter(_sync))
#endif
        {
            // A writer holds the lock and will remove expired entries itself.
            return;
        }

        try
        {
            try
            {
                if (!node.Unlinked)
                {
                    RemoveLocked(node, CacheRemovalReason.Expired, ref removed);
                }

                RemoveExpiredLocked(Now(), ref removed);
            }
            finally
            {
#if NET9_0_OR_GREATER
                _sync.Exit();
#else
                Monitor.Exit(_sync);
#endif
            }
        }
        catch (Exception ex)
        {
            ReportAfterFailure(in removed, ex);
            throw;
        }

        Report(in removed);
    }

    // ---------------------------------------------------------------- writes

    internal void Set(TKey key, TValue value)
    {
        ThrowIfNull(key);
        RemovalBatch<TKey, TValue> removed = default;
        try
        {
            SetLocked(key, value, ref removed);
        }
        catch (Exception ex)
        {
            ReportAfterFailure(in removed, ex);
            throw;
        }

        Report(in removed);
    }

    private void SetLocked(TKey key, TValue value, ref RemovalBatch<TKey, TValue> removed)
    {
        lock (_sync)
        {
            long now = HasTtl ? Now() : 0;
            PrepareWriteLocked(now, ref removed);
            var node = new LruNode<TKey, TValue>(key, value, ExpiryFor(now));
            if (_map.TryGetValue(key, out LruEntry<TKey, TValue>? oldEntry))
            {
                // One atomic swap in the map: a concurrent reader sees the old value or the new one.
                LruNode<TKey, TValue> old = oldEntry.Node;
                _map[key] = node.Entry;
                UnlinkLocked(old);
                NoteRemoval(old, HasTtl && now >= old.ExpiresAt ? CacheRemovalReason.Expired : CacheRemovalReason.Replaced, ref removed);
                LinkLocked(node);
            }
            else
            {
                InsertLocked(node, ref removed);
            }
        }
    }

    internal TValue GetOrAdd(TKey key, TValue value)
    {
        if (TryGetLive(key, out TValue? existing))
        {
            return existing;
        }

        // The caller still holds the value: when it is not stored, it is not reported either.
        return GetOrAdd(key, value, created: false);
    }

    internal TValue GetOrAdd<TArg>(TKey key, Func<TKey, TArg, TValue> valueFactory, TArg factoryArgument)
    {
        ArgumentNullException.ThrowIfNull(valueFactory);
        if (TryGetLive(key, out TValue? existing))
        {
            return existing;
        }

        // The factory runs outside the lock; if another thread stores a value first, theirs wins
        // and the value created here, which nobody else holds, is reported as Discarded.
        return GetOrAdd(key, valueFactory(key, factoryArgument), created: true);
    }

    private TValue GetOrAdd(TKey key, TValue value, bool created)
    {
        RemovalBatch<TKey, TValue> removed = default;
        TValue result;
        try
        {
            result = GetOrAddLocked(key, value, created, ref removed);
        }
        catch (Exception ex)
        {
            ReportAfterFailure(in removed, ex);
            throw;
        }

        Report(in removed);
        return result;
    }

    private TValue GetOrAddLocked(TKey key, TValue value, bool created, ref RemovalBatch<TKey, TValue> removed)
    {
        TValue result;
        lock (_sync)
        {
            long now = HasTtl ? Now() : 0;
            PrepareWriteLocked(now, ref removed);
            LruNode<TKey, TValue>? node = _map.TryGetValue(key, out LruEntry<TKey, TValue>? entry) ? entry.Node : null;
            if (node is not null && (!HasTtl || now < node.ExpiresAt))
            {
                // Stored by another thread since our read missed: a hit, and now the most recent.
                MoveToFrontLocked(node);
                result = node.Value;
                if (_trackStatistics)
                {
                    _s.LockedHits++; // the read before the lock counted nothing
                }

                if (created && _onRemoved is not null)
                {
                    // Lost the race: the factory's value never entered the cache. Reported so that
                    // an owner disposing values in OnRemoved does not leak it.
                    removed.Add(new LruNode<TKey, TValue>(key, value, 0), CacheRemovalReason.Discarded);
                }
            }
            else
            {
                if (node is not null)
                {
                    RemoveLocked(node, CacheRemovalReason.Expired, ref removed);
                }

                InsertLocked(new LruNode<TKey, TValue>(key, value, ExpiryFor(now)), ref removed);
                result = value;
                if (_trackStatistics)
                {
                    _s.LockedMisses++;
                }
            }
        }

        return result;
    }

    internal bool Remove(TKey key, [MaybeNullWhen(false)] out TValue value)
    {
        ThrowIfNull(key);
        RemovalBatch<TKey, TValue> removed = default;
        bool found;
        try
        {
            found = RemoveLocked(key, out value, ref removed);
        }
        catch (Exception ex)
        {
            ReportAfterFailure(in removed, ex);
            throw;
        }

        Report(in removed);
        return found;
    }

    private bool RemoveLocked(TKey key, [MaybeNullWhen(false)] out TValue value, ref RemovalBatch<TKey, TValue> removed)
    {
        bool found = false;
        value = default;
        lock (_sync)
        {
            long now = HasTtl ? Now() : 0;
            if (_map.TryGetValue(key, out LruEntry<TKey, TValue>? entry))
            {
                LruNode<TKey, TValue> node = entry.Node;

                // An expired entry is already gone as far as callers can see: it is removed as
                // expired, and Remove reports that nothing live was there.
                found = !HasTtl || now < node.ExpiresAt;
                RemoveLocked(node, found ? CacheRemovalReason.Removed : CacheRemovalReason.Expired, ref removed);
                if (found)
                {
                    value = node.Value;
                }
            }

            if (HasTtl)
            {
                RemoveExpiredLocked(now, ref removed);
            }
        }

        return found;
    }

    internal void Clear()
    {
        LruNode<TKey, TValue>? first;
        lock (_sync)
        {
            DrainReadsLocked();
            first = _s.Head;
            for (LruNode<TKey, TValue>? node = first; node is not null; node = node.Next)
            {
                node.Unlinked = true;
            }

            _map.Clear();
            _s.Head = _s.Tail = _s.ExpiryHead = _s.ExpiryTail = null;
            _s.Count = 0;
        }

        // The detached chain is no longer touched by the cache, so it can be walked without the lock.
        if (_onRemoved is not null)
        {
            List<Exception>? errors = null;
            for (LruNode<TKey, TValue>? node = first; node is not null; node = node.Next)
            {
                RemovalBatch<TKey, TValue>.Invoke(_onRemoved, node, CacheRemovalReason.Removed, ref errors);
            }

            RemovalBatch<TKey, TValue>.ThrowIfAny(errors);
        }
    }

    internal LruCacheStatistics? GetStatistics() =>
        ReadCounters(out long hits, out long misses, out long evictions, out long expirations)
            ? new LruCacheStatistics(hits, misses, evictions, expirations)
            : null;

    /// <inheritdoc/>
    public bool ReadCounters(out long hits, out long misses, out long evictions, out long expirations)
    {
        // Evictions and expirations are counted by every write, which holds the lock anyway.
        evictions = Volatile.Read(ref _s.Evictions);
        expirations = Volatile.Read(ref _s.Expirations);
        hits = misses = 0;
        if (!_trackStatistics)
        {
            return false;
        }

        hits = Volatile.Read(ref _s.LockedHits);
        misses = Volatile.Read(ref _s.LockedMisses);
        foreach (ReadStripe<LruNode<TKey, TValue>>? stripe in _stripes)
        {
            if (stripe is not null)
            {
                hits += Volatile.Read(ref stripe.Tail) + Volatile.Read(ref stripe.Skipped);
                misses += Volatile.Read(ref stripe.Misses);
            }
        }

        return true;
    }

    // ---------------------------------------------------------------- under the lock

    private long ExpiryFor(long now) => HasTtl ? now + _ttlTicks : 0;

    private void PrepareWriteLocked(long now, ref RemovalBatch<TKey, TValue> removed)
    {
        DrainReadsLocked();
        if (HasTtl)
        {
            RemoveExpiredLocked(now, ref removed);
        }
    }

    private void InsertLocked(LruNode<TKey, TValue> node, ref RemovalBatch<TKey, TValue> removed)
    {
        if (_s.Count >= _capacity)
        {
            LruNode<TKey, TValue> victim = _s.Tail!;
            bool expired = HasTtl && Now() >= victim.ExpiresAt;
            RemoveLocked(victim, expired ? CacheRemovalReason.Expired : CacheRemovalReason.Evicted, ref removed);
        }

        _map[node.Key] = node.Entry;
        LinkLocked(node);
    }

    /// <summary>Removes at most <see cref="ExpiredPerOperation"/> expired entries, oldest first.</summary>
    private void RemoveExpiredLocked(long now, ref RemovalBatch<TKey, TValue> removed)
    {
        for (int i = 0; i < ExpiredPerOperation; i++)
        {
            LruNode<TKey, TValue>? oldest = _s.ExpiryHead;
            if (oldest is null || now < oldest.ExpiresAt)
            {
                return;
            }

            RemoveLocked(oldest, CacheRemovalReason.Expired, ref removed);
        }
    }

    private void RemoveLocked(LruNode<TKey, TValue> node, CacheRemovalReason reason, ref RemovalBatch<TKey, TValue> removed)
    {
        _map.TryRemove(node.Key, out _);
        UnlinkLocked(node);
        NoteRemoval(node, reason, ref removed);
    }

    private void NoteRemoval(LruNode<TKey, TValue> node, CacheRemovalReason reason, ref RemovalBatch<TKey, TValue> removed)
    {
        if (reason == CacheRemovalReason.Evicted)
        {
            _s.Evictions++;
        }
        else if (reason == CacheRemovalReason.Expired)
        {
            _s.Expirations++;
        }

        if (_onRemoved is not null)
        {
            removed.Add(node, reason);
        }
    }

    private void LinkLocked(LruNode<TKey, TValue> node)
    {
        node.Next = _s.Head;
        if (_s.Head is null)
        {
            _s.Tail = node;
        }
        else
        {
            _s.Head.Prev = node;
        }

        Volatile.Write(ref _s.Head, node);

        if (HasTtl)
        {
            node.ExpiryPrev = _s.ExpiryTail;
            if (_s.ExpiryTail is null)
            {
                _s.ExpiryHead = node;
            }
            else
            {
                _s.ExpiryTail.ExpiryNext = node;
            }

            _s.ExpiryTail = node;
        }

        _s.Count++;
    }

    private void UnlinkLocked(LruNode<TKey, TValue> node)
    {
        DetachFromRecency(node);
        if (HasTtl)
        {
            if (node.ExpiryPrev is null)
            {
                _s.ExpiryHead = node.ExpiryNext;
            }
            else
            {
                node.ExpiryPrev.ExpiryNext = node.ExpiryNext;
            }

            if (node.ExpiryNext is null)
            {
                _s.ExpiryTail = node.ExpiryPrev;
            }
            else
            {
                node.ExpiryNext.ExpiryPrev = node.ExpiryPrev;
            }

            node.ExpiryPrev = node.ExpiryNext = null;
        }

        node.Unlinked = true;
        _s.Count--;
    }

    private void DetachFromRecency(LruNode<TKey, TValue> node)
    {
        if (node.Prev is null)
        {
            Volatile.Write(ref _s.Head, node.Next);
        }
        else
        {
            node.Prev.Next = node.Next;
        }

        if (node.Next is null)
        {
            _s.Tail = node.Prev;
        }
        else
        {
            node.Next.Prev = node.Prev;
        }

        node.Prev = node.Next = null;
    }

    private void MoveToFrontLocked(LruNode<TKey, TValue> node)
    {
        if (ReferenceEquals(node, _s.Head))
        {
            return;
        }

        DetachFromRecency(node);
        node.Next = _s.Head;
        _s.Head!.Prev = node;
        Volatile.Write(ref _s.Head, node);
    }

    /// <summary>
    /// Applies every buffered read in epoch order (a stripe's own reads in the order recorded).
    /// A slot claimed but not written yet stops its stripe until the next drain.
    /// </summary>
    private void DrainReadsLocked()
    {
        ReadStripe<LruNode<TKey, TValue>>[] pending = _pendingScratch;
        int count = 0;
        foreach (ReadStripe<LruNode<TKey, TValue>>? stripe in _stripes)
        {
            if (stripe is not null && stripe.HasPending)
            {
                pending[count++] = stripe;
            }
        }

        // Merge: while reads from several stripes wait, apply the one with the oldest epoch.
        while (count > 1)
        {
            int oldest = -1;
            long oldestEpoch = long.MaxValue;
            for (int i = 0; i < count; i++)
            {
                ReadStripe<LruNode<TKey, TValue>> stripe = pending[i];
                long epoch = stripe.HeadEpoch();
                if (epoch < 0)
                {
                    // Drained or stopped at an unpublished slot: out of the merge.
                    pending[i--] = pending[--count];
                    continue;
                }

                if (epoch < oldestEpoch)
                {
                    oldestEpoch = epoch;
                    oldest = i;
                }
            }

            if (oldest >= 0)
            {
                TryApplyNext(pending[oldest]);
            }
        }

        if (count == 1)
        {
            // The common case, and the tail of a merge: one stripe left, applied in order.
            while (TryApplyNext(pending[0]))
            {
            }
        }

        Array.Clear(pending, 0, pending.Length);
    }

    private bool TryApplyNext(ReadStripe<LruNode<TKey, TValue>> stripe)
    {
        // Null also when the oldest slot is claimed by a reader that has not written it yet.
        LruNode<TKey, TValue>? node = stripe.TryTake();
        if (node is null)
        {
            return false;
        }

        if (!node.Unlinked)
        {
            MoveToFrontLocked(node);
        }

        return true;
    }

    private static void ThrowIfNull(TKey key)
    {
        if (key is null)
        {
            throw new ArgumentNullException(nameof(key));
        }
    }

    private void Report(in RemovalBatch<TKey, TValue> removed)
    {
        if (!removed.IsEmpty)
        {
            removed.Deliver(_onRemoved!);
        }
    }

    /// <summary>
    /// Reports what an operation removed before it failed (for example a key whose hash code
    /// throws, after expired entries were taken out). The caller then rethrows
    /// <paramref name="error"/>; if callbacks threw as well, they surface together with it.
    /// </summary>
    private void ReportAfterFailure(in RemovalBatch<TKey, TValue> removed, Exception error)
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
}
