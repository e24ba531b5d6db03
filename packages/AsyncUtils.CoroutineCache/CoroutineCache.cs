using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace AsyncUtils;

/// <summary>
/// Caches the results of a <see cref="ValueTask{TResult}"/>-returning function by key and shares
/// calls in flight: the first caller for a key starts the call, every caller with that key while it
/// runs awaits the same call (stampede protection), and later callers get the cached value,
/// synchronously and without allocating, until it expires, is evicted or is invalidated.
/// </summary>
/// <remarks>
/// <para>
/// <b>Cancellation.</b> Each request takes its own <see cref="CancellationToken"/>, which only stops
/// that caller's wait: it never cancels the call that others share. The function gets the shared
/// call's own token, cancelled only by <see cref="CoroutineCacheOptions{TKey, TResult}.Timeout"/>
/// or, with <see cref="CoroutineCacheOptions{TKey, TResult}.CancelWhenAllWaitersCancel"/>, when every
/// caller waiting on the call has given up. A request whose token is already cancelled returns a
/// cancelled task without starting a call, unless the value is already cached (a hit does not wait).
/// </para>
/// <para>
/// <b>Thread safety.</b> Every member is safe to call from any number of threads at once. Concurrent
/// first callers of a key start exactly one call. A hit takes no lock and allocates nothing. The
/// function, <see cref="CoroutineCacheOptions{TKey, TResult}.TimeToLiveSelector"/> and the callers'
/// continuations never run inside a lock of the cache, so they may call back into it; the callers'
/// continuations never run on the thread that completed the call.
/// </para>
/// <para>
/// <b>Failures.</b> By default a call that faults or is cancelled is removed when it completes:
/// everyone waiting on it gets its exception, and the next caller starts a new call. A function that
/// throws before returning its task is treated exactly like one whose task faults (or is cancelled,
/// for an <see cref="OperationCanceledException"/>).
/// </para>
/// <para>
/// <b>Execution.</b> .NET async methods start when called, so the call starts at once on the first
/// caller's thread, in its execution context (its <see cref="AsyncLocal{T}"/> values), until its
/// first real await. Task-returning functions are wrapped for free:
/// <c>static (key, ct) =&gt; new ValueTask&lt;T&gt;(LoadAsync(key, ct))</c>.
/// </para>
/// <para>
/// <b>Expiry.</b> Expired entries are never returned. They are removed lazily: a request for an
/// expired key replaces it, and each completion with a finite time to live removes up to two expired
/// entries. With <see cref="TimeProvider.System"/> expiry is read from
/// <see cref="Environment.TickCount64"/>, so an entry may outlive its time to live by the tick's
/// resolution (a few milliseconds). An entry that leaves the cache (evicted, invalidated, replaced,
/// cleared) leaves the expiry bookkeeping at once, so the memory held is bounded by the entries
/// stored (by <see cref="CoroutineCacheOptions{TKey, TResult}.MaxSize"/> when set), whatever the
/// time to live and the insert rate.
/// </para>
/// <para>
/// <b>Recursion.</b> A function that asks for the key it is computing (directly, or through other
/// keys of this cache) would wait for itself forever. That request instead fails with
/// <see cref="InvalidOperationException"/>, which normally fails the call and frees the key. The
/// check follows the execution context: it covers everything the function awaits or starts, and
/// is made only when a caller is about to join a call in flight, never on a hit.
/// </para>
/// </remarks>
/// <typeparam name="TKey">The key type. <see langword="null"/> keys are rejected.</typeparam>
/// <typeparam name="TResult">The result type.</typeparam>
public sealed class CoroutineCache<TKey, TResult> : ICacheMetricsSource
    where TKey : notnull
{
    private const long KeepForever = long.MaxValue;

    private readonly EntryMap<TKey, CoroutineCacheEntry<TKey, TResult>> _map;
    private readonly ConcurrentDictionary<TKey, CoroutineCacheEntry<TKey, TResult>>? _dictionary; // _map's, when unbounded
    private readonly CacheClock _clock;
    private readonly long _timeToLive; // clock ticks; KeepForever, or 0 for "do not keep"
    private readonly Func<TKey, TResult, TimeSpan?>? _timeToLiveSelector;
    private readonly bool _evictOnException;
    private readonly bool _cancelWhenAllWaitersCancel;
    private readonly TimeSpan _timeout;
    private readonly bool _hasTimeout;
    private readonly CacheCounters? _counters;
    private readonly string? _name;
    private readonly bool _fastHits; // unbounded and no counters: a hit needs only the dictionary
    private readonly bool _boundedHits; // bounded and no counters: a hit needs only the bounded store
    private readonly LruCache<TKey, CoroutineCacheEntry<TKey, TResult>>? _lru; // _map's, when bounded by exact recency
    private readonly S3FifoCache<TKey, CoroutineCacheEntry<TKey, TResult>>? _s3Fifo; // _map's, when bounded by S3-FIFO
    private readonly ExpiryQueue<CoroutineCacheEntry<TKey, TResult>> _expiry = new(); // only entries the map holds

    /// <summary>Creates an unbounded cache that keeps results until invalidated and does not cache failures.</summary>
    public CoroutineCache()
        : this(null)
    {
    }

    /// <summary>Creates a cache with the given settings.</summary>
    /// <param name="options">Time to live, size bound, failure and cancellation policy, timeout, clock, comparer and statistics; copied, may be <see langword="null"/>.</param>
    public CoroutineCache(CoroutineCacheOptions<TKey, TResult>? options)
    {
        _clock = new CacheClock(options?.TimeProvider);
        _timeToLive = ToTicks(options?.TimeToLive);
        _timeToLiveSelector = options?.TimeToLiveSelector;

        // An entry that leaves the map leaves the expiry queue with it, so that the queue never
        // keeps an evicted or invalidated result reachable. Without expiry nothing is ever queued.
        bool mayExpire = _timeToLive != KeepForever || _timeToLiveSelector is not null;
        _map = new EntryMap<TKey, CoroutineCacheEntry<TKey, TResult>>(
            options?.MaxSize,
            options?.EvictionPolicy ?? CacheEvictionPolicy.Lru,
            options?.Comparer,
            mayExpire ? _expiry.Remove : null);
        _dictionary = _map.Dictionary;
        _lru = _map.Lru;
        _s3Fifo = _map.S3Fifo;
        _evictOnException = options?.EvictOnException ?? true;
        _cancelWhenAllWaitersCancel = options?.CancelWhenAllWaitersCancel ?? false;
        if (options?.Timeout is TimeSpan timeout && timeout != Timeout.InfiniteTimeSpan)
        {
            _timeout = timeout;
            _hasTimeout = true;
        }

        if (options?.TrackStatistics == true)
        {
            _counters = new CacheCounters();
        }

        _fastHits = _dictionary is not null && _counters is null;
        _boundedHits = _dictionary is null && _counters is null;
        _name = options?.Name;

        // Metrics read the counters above when a listener collects; nothing is added to any path.
        CoroutineCacheMetrics.Instruments.Register(this);
    }

    /// <summary>
    /// The number of entries stored: calls in flight, completed entries, and expired entries not yet
    /// removed. O(1) with a size bound; without one it briefly locks the whole map, so do not poll it.
    /// </summary>
    public int Count => _map.Count;

    /// <summary>The entries the expiry queue holds (for the tests: it must never exceed the stored entries).</summary>
    internal int ExpiryQueueCount => _expiry.Count;

    /// <summary>
    /// Returns the result for <paramref name="key"/>: the cached value (synchronously, without
    /// allocating) if it is live, the outcome of the call in flight if there is one, or the outcome
    /// of a new call that <paramref name="function"/> starts now.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="function">
    /// Computes the result for the key; it receives the key and the shared call's token (never the
    /// caller's). Pass a <see langword="static"/> lambda, or use
    /// <see cref="GetOrAddAsync{TState}(TKey, Func{TKey, TState, CancellationToken, ValueTask{TResult}}, TState, CancellationToken)"/>
    /// to give it state without allocating a closure.
    /// </param>
    /// <returns>
    /// The result, to be awaited once (it is a <see cref="ValueTask{TResult}"/>). It fails with
    /// <see cref="InvalidOperationException"/> when the caller is the function computing this key
    /// (see Recursion in the class remarks).
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    public ValueTask<TResult> GetOrAddAsync(TKey key, Func<TKey, CancellationToken, ValueTask<TResult>> function) =>
        GetOrAddAsync(key, function, CancellationToken.None);

    /// <summary>
    /// Returns the result for <paramref name="key"/>: the cached value (synchronously, without
    /// allocating) if it is live, the outcome of the call in flight if there is one, or the outcome
    /// of a new call that <paramref name="function"/> starts now; <paramref name="cancellationToken"/>
    /// lets this caller stop waiting.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="function">
    /// Computes the result for the key; it receives the key and the shared call's token (never the
    /// caller's). Pass a <see langword="static"/> lambda, or use
    /// <see cref="GetOrAddAsync{TState}(TKey, Func{TKey, TState, CancellationToken, ValueTask{TResult}}, TState, CancellationToken)"/>
    /// to give it state without allocating a closure.
    /// </param>
    /// <param name="cancellationToken">Stops this caller's wait; the shared call goes on for the others.</param>
    /// <returns>
    /// The result, to be awaited once (it is a <see cref="ValueTask{TResult}"/>). It fails with
    /// <see cref="InvalidOperationException"/> when the caller is the function computing this key
    /// (see Recursion in the class remarks).
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    public ValueTask<TResult> GetOrAddAsync(TKey key, Func<TKey, CancellationToken, ValueTask<TResult>> function, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(function);

        // The hit, kept small so that it costs little more than the dictionary lookup: an unbounded
        // map and no counters. The bounded hit, counters and everything else go out of line.
        if (_fastHits && _dictionary!.TryGetValue(key, out CoroutineCacheEntry<TKey, TResult>? entry) && IsLive(Volatile.Read(ref entry.ExpiresAt)))
        {
            return new ValueTask<TResult>(entry.Value);
        }

        return GetOrAddSlow(key, function, cancellationToken);
    }

    /// <summary>
    /// Returns the result for <paramref name="key"/>: the cached value (synchronously, without
    /// allocating) if it is live, the outcome of the call in flight if there is one, or the outcome
    /// of a new call that <paramref name="function"/> starts now with <paramref name="state"/>, so
    /// that no closure is allocated.
    /// </summary>
    /// <typeparam name="TState">The state's type.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="function">Computes the result; it receives the key, <paramref name="state"/> and the shared call's token.</param>
    /// <param name="state">Passed to <paramref name="function"/> when a call starts; not part of the key.</param>
    /// <returns>
    /// The result, to be awaited once (it is a <see cref="ValueTask{TResult}"/>). It fails with
    /// <see cref="InvalidOperationException"/> when the caller is the function computing this key
    /// (see Recursion in the class remarks).
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    public ValueTask<TResult> GetOrAddAsync<TState>(TKey key, Func<TKey, TState, CancellationToken, ValueTask<TResult>> function, TState state) =>
        GetOrAddAsync(key, function, state, CancellationToken.None);

    /// <summary>
    /// Returns the result for <paramref name="key"/>: the cached value (synchronously, without
    /// allocating) if it is live, the outcome of the call in flight if there is one, or the outcome
    /// of a new call that <paramref name="function"/> starts now with <paramref name="state"/>, so
    /// that no closure is allocated; <paramref name="cancellationToken"/> lets this caller stop waiting.
    /// </summary>
    /// <typeparam name="TState">The state's type.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="function">Computes the result; it receives the key, <paramref name="state"/> and the shared call's token.</param>
    /// <param name="state">Passed to <paramref name="function"/> when a call starts; not part of the key.</param>
    /// <param name="cancellationToken">Stops this caller's wait; the shared call goes on for the others.</param>
    /// <returns>
    /// The result, to be awaited once (it is a <see cref="ValueTask{TResult}"/>). It fails with
    /// <see cref="InvalidOperationException"/> when the caller is the function computing this key
    /// (see Recursion in the class remarks).
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    public ValueTask<TResult> GetOrAddAsync<TState>(TKey key, Func<TKey, TState, CancellationToken, ValueTask<TResult>> function, TState state, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(function);
        if (_fastHits && _dictionary!.TryGetValue(key, out CoroutineCacheEntry<TKey, TResult>? entry) && IsLive(Volatile.Read(ref entry.ExpiresAt)))
        {
            return new ValueTask<TResult>(entry.Value);
        }

        return GetOrAddSlow(key, function, state, cancellationToken);
    }

    /// <summary>
    /// Forgets <paramref name="key"/>: the next caller starts a new call. A call in flight is not
    /// cancelled: those already waiting on it still get its outcome, which is then not cached.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <returns><see langword="true"/> when a live or in-flight entry was removed.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is <see langword="null"/>.</exception>
    public bool Invalidate(TKey key)
    {
        if (!_map.Remove(key, out CoroutineCacheEntry<TKey, TResult>? entry))
        {
            return false;
        }

        long expiresAt = Volatile.Read(ref entry.ExpiresAt);
        return expiresAt == CoroutineCacheEntry<TKey, TResult>.Pending
            || IsLive(expiresAt)
            || (expiresAt == CoroutineCacheEntry<TKey, TResult>.Failed && IsLive(entry.FailureExpiresAt));
    }

    /// <summary>
    /// Forgets every key. Calls in flight are not cancelled; their outcomes reach those already
    /// waiting on them and are not cached. O(n).
    /// </summary>
    public void Clear() => _map.Clear(); // every entry leaves the expiry queue with the map

    /// <summary>
    /// Returns the hit, miss, coalesced and in-flight counters, or <see langword="null"/> unless
    /// <see cref="CoroutineCacheOptions{TKey, TResult}.TrackStatistics"/> was set.
    /// </summary>
    /// <returns>A snapshot of the counters, or <see langword="null"/>.</returns>
    public CoroutineCacheStatistics? GetStatistics() => _counters?.Snapshot();

    /// <inheritdoc/>
    string? ICacheMetricsSource.MetricsName => _name;

    /// <inheritdoc/>
    long ICacheMetricsSource.Evictions => _map.Evictions;

    /// <inheritdoc/>
    bool ICacheMetricsSource.ReadCounters(out long hits, out long misses, out long coalesced, out long inFlight)
    {
        if (_counters is null)
        {
            hits = misses = coalesced = inFlight = 0;
            return false;
        }

        _counters.Read(out hits, out misses, out coalesced, out inFlight);
        return true;
    }

    // ------------------------------------------------------------------ lookup, start and wait

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsLive(long expiresAt) =>
        expiresAt == CoroutineCacheEntry<TKey, TResult>.Forever
        || (expiresAt > CoroutineCacheEntry<TKey, TResult>.Failed && _clock.Now() < expiresAt);

    /// <summary>
    /// The hit on a bounded map without counters, in the out-of-line part so that the unbounded hit
    /// stays small, but reading the bounded store directly: one call from the public method to the
    /// store's read, no further call through the map. The S3-FIFO read is a lookup and a plain store;
    /// the exact LRU's read also records the hit's recency, which is most of its cost.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryHitBounded(TKey key, [NotNullWhen(true)] out CoroutineCacheEntry<TKey, TResult>? entry) =>
        _s3Fifo is not null
            ? _s3Fifo.TryGetValue(key, out entry) && IsLive(Volatile.Read(ref entry.ExpiresAt))
            : TryHitLru(key, out entry);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryHitLru(TKey key, [NotNullWhen(true)] out CoroutineCacheEntry<TKey, TResult>? entry) =>
        _lru!.TryGetValue(key, out entry) && IsLive(Volatile.Read(ref entry.ExpiresAt));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ValueTask<TResult> GetOrAddSlow(TKey key, Func<TKey, CancellationToken, ValueTask<TResult>> function, CancellationToken cancellationToken) =>
        _boundedHits && TryHitBounded(key, out CoroutineCacheEntry<TKey, TResult>? entry)
            ? new ValueTask<TResult>(entry.Value)
            : GetOrStart(key, static (k, f, ct) => f(k, ct), function, cancellationToken);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ValueTask<TResult> GetOrAddSlow<TState>(
        TKey key, Func<TKey, TState, CancellationToken, ValueTask<TResult>> function, TState state, CancellationToken cancellationToken) =>
        _boundedHits && TryHitBounded(key, out CoroutineCacheEntry<TKey, TResult>? entry)
            ? new ValueTask<TResult>(entry.Value)
            : GetOrStart(key, function, state, cancellationToken);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private ValueTask<TResult> GetOrStart<TState>(
        TKey key, Func<TKey, TState, CancellationToken, ValueTask<TResult>> function, TState state, CancellationToken cancellationToken)
    {
        CoroutineCacheEntry<TKey, TResult>? created = null;
        while (true)
        {
            CoroutineCacheEntry<TKey, TResult>? current = null;
            if (_map.TryGet(key, out CoroutineCacheEntry<TKey, TResult>? found))
            {
                current = found;
                long expiresAt = Volatile.Read(ref found.ExpiresAt);
                if (IsLive(expiresAt))
                {
                    _counters?.Hit();
                    return new ValueTask<TResult>(found.Value);
                }

                if (expiresAt == CoroutineCacheEntry<TKey, TResult>.Failed && IsLive(found.FailureExpiresAt))
                {
                    _counters?.Hit();
                    return new ValueTask<TResult>(found.Task);
                }

                if (expiresAt == CoroutineCacheEntry<TKey, TResult>.Pending)
                {
                    if (CallFrame.IsComputing(found.Frame))
                    {
                        return ValueTask.FromException<TResult>(RecursionError(key));
                    }

                    if (cancellationToken.IsCancellationRequested)
                    {
                        return ValueTask.FromCanceled<TResult>(cancellationToken);
                    }

                    if (TryJoin(found))
                    {
                        _counters?.Coalesce();
                        return Wait(found, cancellationToken);
                    }

                    // Abandoned by its last waiter: replace it.
                }

                // Dead or expired: replace it, unless someone else does first.
            }

            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled<TResult>(cancellationToken);
            }

            created ??= new CoroutineCacheEntry<TKey, TResult>(this, key, waiters: 1);
            if (_map.TryReplace(key, current, created))
            {
                _counters?.Miss();
                Start(created, function, state);
                Task<TResult> shared = created.Task;
                return shared.IsCompletedSuccessfully ? new ValueTask<TResult>(shared.Result) : Wait(created, cancellationToken);
            }
        }
    }

    private bool TryJoin(CoroutineCacheEntry<TKey, TResult> entry)
    {
        if (!_cancelWhenAllWaitersCancel)
        {
            return true; // nobody counts waiters: the call is never abandoned
        }

        int waiters = Volatile.Read(ref entry.Waiters);
        while (waiters != CoroutineCacheEntry<TKey, TResult>.Closed)
        {
            int seen = Interlocked.CompareExchange(ref entry.Waiters, waiters + 1, waiters);
            if (seen == waiters)
            {
                return true;
            }

            waiters = seen;
        }

        return false;
    }

    private ValueTask<TResult> Wait(CoroutineCacheEntry<TKey, TResult> entry, CancellationToken cancellationToken)
    {
        Task<TResult> shared = entry.Task;
        if (shared.IsCompleted || !cancellationToken.CanBeCanceled)
        {
            return new ValueTask<TResult>(shared); // a caller that cannot give up stays counted, if counting
        }

        return _cancelWhenAllWaitersCancel
            ? WaitOrLeaveAsync(entry, cancellationToken)
            : new ValueTask<TResult>(shared.WaitAsync(cancellationToken));
    }

    private static async ValueTask<TResult> WaitOrLeaveAsync(CoroutineCacheEntry<TKey, TResult> entry, CancellationToken cancellationToken)
    {
        try
        {
            return await entry.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !entry.Task.IsCompleted)
        {
            entry.Owner.Leave(entry);
            throw;
        }
    }

    private void Leave(CoroutineCacheEntry<TKey, TResult> entry)
    {
        if (Interlocked.Decrement(ref entry.Waiters) != 0
            || Interlocked.CompareExchange(ref entry.Waiters, CoroutineCacheEntry<TKey, TResult>.Closed, 0) != 0)
        {
            return; // someone still waits, or joined just now
        }

        if (Interlocked.CompareExchange(ref entry.State, CoroutineCacheEntry<TKey, TResult>.Abandoned, CoroutineCacheEntry<TKey, TResult>.Running)
            != CoroutineCacheEntry<TKey, TResult>.Running)
        {
            return; // already completed or timed out
        }

        // Nobody waits any more: free the key, then cancel the shared call. The function's own
        // cancellation callbacks run on the thread pool, not on this caller's thread.
        Publish(entry, CoroutineCacheEntry<TKey, TResult>.Dead);
        entry.TrySetCanceled();
        Task cancelling = entry.CallSource!.CancelAsync();
        if (cancelling.IsCompleted)
        {
            _ = cancelling.Exception;
        }
        else
        {
            cancelling.ContinueWith(
                static t => _ = t.Exception, // a throwing callback is the function's business; nobody is left to tell
                CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
    }

    private void Start<TState>(CoroutineCacheEntry<TKey, TResult> entry, Func<TKey, TState, CancellationToken, ValueTask<TResult>> function, TState state)
    {
        _counters?.CallStarted();
        CancellationToken token = default;
        if (_hasTimeout || _cancelWhenAllWaitersCancel)
        {
            CancellationTokenSource source = _hasTimeout ? new CancellationTokenSource(_timeout, _clock.Provider) : new CancellationTokenSource();
            entry.CallSource = source;
            token = source.Token;
            if (_hasTimeout)
            {
                token.UnsafeRegister(static e => OnTimeout((CoroutineCacheEntry<TKey, TResult>)e!), entry);
            }
        }

        // The function runs marked as computing this call in its flow (and the flows it starts),
        // but the mark is taken off before control returns to the caller.
        ValueTask<TResult> pending = default;
        Exception? thrown = null;
        CallFrame? callers = entry.Frame.Enter();
        try
        {
            pending = function(entry.Key, state, token);
        }
#pragma warning disable CA1031 // A synchronous throw is the call's outcome, delivered to the waiters.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            thrown = ex;
        }
        finally
        {
            CallFrame.Exit(callers);
        }

        if (thrown is not null)
        {
            Fail(entry, thrown);
            return;
        }

        if (pending.IsCompletedSuccessfully)
        {
            Succeed(entry, pending.Result);
            return;
        }

        entry.Source = pending;
        if (pending.IsCompleted)
        {
            entry.OnSourceCompleted();
        }
        else
        {
            pending.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(entry.OnSourceCompleted);
        }
    }

    // ------------------------------------------------------------------ completion

    /// <summary>
    /// Claims the entry for the function's outcome. Returns <see langword="false"/> when the timeout
    /// or the abandonment claimed it first (the outcome is then dropped).
    /// </summary>
    private bool ClaimForOutcome(CoroutineCacheEntry<TKey, TResult> entry, bool failed)
    {
        _counters?.CallFinished();
        CancellationTokenSource? callSource = entry.CallSource;
        if (failed && _hasTimeout && callSource is { IsCancellationRequested: true })
        {
            // The function gave up because the timeout fired (its callback may not have run yet):
            // report the timeout, not the function's cancellation. A no-op if the call was abandoned.
            OnTimeout(entry);
        }

        int previous = Interlocked.CompareExchange(ref entry.State, CoroutineCacheEntry<TKey, TResult>.Finished, CoroutineCacheEntry<TKey, TResult>.Running);
        if (previous != CoroutineCacheEntry<TKey, TResult>.Abandoned)
        {
            // Nobody will cancel the source any more (an abandoning waiter might, so then it is left
            // to the garbage collector); the function is done with its token.
            callSource?.Dispose();
        }

        return previous == CoroutineCacheEntry<TKey, TResult>.Running;
    }

    internal void Succeed(CoroutineCacheEntry<TKey, TResult> entry, TResult value)
    {
        if (!ClaimForOutcome(entry, failed: false))
        {
            return;
        }

        long expiresAt;
        try
        {
            expiresAt = ExpiryFor(entry.Key, value);
        }
#pragma warning disable CA1031 // A throwing selector fails the call: the callers see its exception.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            FailClaimed(entry, ex);
            return;
        }

        entry.Value = value;
        Publish(entry, expiresAt);
        entry.TrySetResult(value);
    }

    internal void Fail(CoroutineCacheEntry<TKey, TResult> entry, Exception exception)
    {
        if (ClaimForOutcome(entry, failed: true))
        {
            FailClaimed(entry, exception);
        }
    }

    private void FailClaimed(CoroutineCacheEntry<TKey, TResult> entry, Exception exception)
    {
        // Decide the entry's fate before completing the task, so that a caller that reacts to the
        // failure by calling again already starts a new call.
        long failureExpiresAt = _evictOnException ? CoroutineCacheEntry<TKey, TResult>.Dead : DefaultExpiry();
        if (failureExpiresAt == CoroutineCacheEntry<TKey, TResult>.Dead)
        {
            Publish(entry, CoroutineCacheEntry<TKey, TResult>.Dead);
        }
        else
        {
            entry.FailureExpiresAt = failureExpiresAt;
            Publish(entry, CoroutineCacheEntry<TKey, TResult>.Failed);
        }

        if (exception is OperationCanceledException canceled)
        {
            entry.TrySetCanceled(canceled.CancellationToken);
        }
        else
        {
            entry.TrySetException(exception);
            _ = entry.Task.Exception; // observed: every waiter rethrows it from its own await
        }
    }

    private static InvalidOperationException RecursionError(TKey key) =>
        new($"The cached function for key '{key}' asked for its own key while computing it (directly or through other keys): it would wait for itself forever. Compute the value without asking the cache for the key being computed.");

    private static void OnTimeout(CoroutineCacheEntry<TKey, TResult> entry)
    {
        if (Interlocked.CompareExchange(ref entry.State, CoroutineCacheEntry<TKey, TResult>.TimedOut, CoroutineCacheEntry<TKey, TResult>.Running)
            != CoroutineCacheEntry<TKey, TResult>.Running)
        {
            return;
        }

        CoroutineCache<TKey, TResult> cache = entry.Owner;
        cache.Publish(entry, CoroutineCacheEntry<TKey, TResult>.Dead); // frees the key before anyone learns of the timeout
        entry.TrySetException(new TimeoutException($"The cached call did not complete within {cache._timeout}."));
        _ = entry.Task.Exception;
    }

    /// <summary>Makes a completed entry visible with its expiry, or removes it when it must not be kept.</summary>
    private void Publish(CoroutineCacheEntry<TKey, TResult> entry, long expiresAt)
    {
        Volatile.Write(ref entry.ExpiresAt, expiresAt);
        long trackAt = expiresAt == CoroutineCacheEntry<TKey, TResult>.Failed ? entry.FailureExpiresAt : expiresAt;
        if (expiresAt == CoroutineCacheEntry<TKey, TResult>.Dead)
        {
            _map.RemoveIfCurrent(entry.Key, entry);
        }
        else if (trackAt != CoroutineCacheEntry<TKey, TResult>.Forever)
        {
            TrackExpiry(entry, trackAt);
        }
    }

    private void TrackExpiry(CoroutineCacheEntry<TKey, TResult> entry, long expiresAt)
    {
        // Not queued if the entry already left the map (evicted or invalidated while its call ran).
        _expiry.Add(entry, expiresAt, _clock.Now(), out CoroutineCacheEntry<TKey, TResult>? first, out CoroutineCacheEntry<TKey, TResult>? second);

        // Removal is conditional: an entry already replaced, invalidated or evicted is left alone.
        if (first is not null)
        {
            _map.RemoveIfCurrent(first.Key, first);
        }

        if (second is not null)
        {
            _map.RemoveIfCurrent(second.Key, second);
        }
    }

    private long DefaultExpiry() => _timeToLive switch
    {
        KeepForever => CoroutineCacheEntry<TKey, TResult>.Forever,
        0 => CoroutineCacheEntry<TKey, TResult>.Dead,
        long ticks => _clock.Now() + ticks,
    };

    private long ExpiryFor(TKey key, TResult value)
    {
        if (_timeToLiveSelector?.Invoke(key, value) is not TimeSpan chosen)
        {
            return DefaultExpiry();
        }

        if (chosen == Timeout.InfiniteTimeSpan)
        {
            return CoroutineCacheEntry<TKey, TResult>.Forever;
        }

        if (chosen < TimeSpan.Zero)
        {
            throw new InvalidOperationException($"TimeToLiveSelector returned {chosen} for key '{key}'; it must return null, TimeSpan.Zero, a positive duration or Timeout.InfiniteTimeSpan.");
        }

        return chosen == TimeSpan.Zero ? CoroutineCacheEntry<TKey, TResult>.Dead : _clock.Now() + _clock.ToTicks(chosen);
    }

    private long ToTicks(TimeSpan? timeToLive) => timeToLive switch
    {
        null => KeepForever,
        TimeSpan ttl when ttl == Timeout.InfiniteTimeSpan => KeepForever,
        TimeSpan ttl when ttl == TimeSpan.Zero => 0,
        TimeSpan ttl => _clock.ToTicks(ttl),
    };
}
