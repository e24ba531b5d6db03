using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace AsyncUtils;

/// <summary>
/// Caches the results of an async function by key and shares calls in flight: the first caller
/// for a key starts the call, every caller with that key while it runs gets the same
/// <see cref="Task{TResult}"/> (stampede protection), and later callers get the completed task
/// until it expires, is evicted or is invalidated.
/// </summary>
/// <remarks>
/// <para>
/// <b>The shared task.</b> <see cref="GetOrAddAsync(TKey, Func{TKey, CancellationToken, Task{TResult}})"/>
/// returns the cache's own task for the key, started at call time. It can be stored, passed on
/// and awaited later by any number of consumers; its continuations always run asynchronously, never
/// on the thread that completed the call. To stop waiting without affecting anyone else, use
/// <c>task.WaitAsync(cancellationToken)</c>. (<c>AsyncUtils.CoroutineCache</c> returns a
/// <see cref="ValueTask{TResult}"/> instead and takes a token per caller.) The task's
/// <see cref="Task.AsyncState"/> belongs to the cache: it links the task to its entry, so that a
/// hit is a single map lookup.
/// </para>
/// <para>
/// <b>Thread safety.</b> Every member is safe to call from any number of threads at once. Concurrent
/// first callers of a key start exactly one call. A hit on a completed entry takes no lock and
/// allocates nothing. The function, <see cref="TaskCacheOptions{TKey, TResult}.TimeToLiveSelector"/>
/// and the caller's continuations never run inside a lock of the cache, so they may call back into it.
/// </para>
/// <para>
/// <b>Failures.</b> By default a call that faults or is cancelled is removed when it completes:
/// everyone who shared it gets its exception, and the next caller starts a new call (a failure is
/// never cached forever, the classic <c>AsyncLazy</c> trap). A function that throws before returning
/// its task is treated exactly like one whose task faults (or is cancelled, for an
/// <see cref="OperationCanceledException"/>): <c>GetOrAddAsync</c> itself does not throw it.
/// </para>
/// <para>
/// <b>Execution context.</b> The function runs on the first caller's thread, in its execution
/// context (its <see cref="AsyncLocal{T}"/> values), until its first real await. The token it gets
/// belongs to the shared call, never to a caller: it is cancelled only by
/// <see cref="TaskCacheOptions{TKey, TResult}.Timeout"/>.
/// </para>
/// <para>
/// <b>Expiry.</b> Expired entries are never returned. They are removed lazily: a request for an
/// expired key replaces it, and each completion with a finite time to live removes up to two expired
/// entries, so no call pays for a large sweep. With <see cref="TimeProvider.System"/> expiry is read
/// from <see cref="Environment.TickCount64"/>, so an entry may outlive its time to live by the
/// tick's resolution (a few milliseconds). An entry that leaves the cache (evicted, invalidated,
/// replaced, cleared) leaves the expiry bookkeeping at once, so the memory held is bounded by the
/// entries stored (by <see cref="TaskCacheOptions{TKey, TResult}.MaxSize"/> when set), whatever the
/// time to live and the insert rate.
/// </para>
/// <para>
/// <b>Recursion.</b> A function that asks for the key it is computing (directly, or through other
/// keys of this cache) would wait for itself forever. That request instead returns a task faulted
/// with <see cref="InvalidOperationException"/>, which normally fails the call and frees the key.
/// The check follows the execution context: it covers everything the function awaits or starts,
/// and is made only when a caller is about to join a call in flight, never on a hit on a completed
/// entry.
/// </para>
/// <para>
/// <b>Unobserved failures.</b> The shared task's exception is observed by the cache: if every
/// caller stopped waiting (with <c>WaitAsync</c>) before the call failed,
/// <see cref="TaskScheduler.UnobservedTaskException"/> does not fire for it.
/// </para>
/// </remarks>
/// <typeparam name="TKey">The key type. <see langword="null"/> keys are rejected.</typeparam>
/// <typeparam name="TResult">The result type.</typeparam>
public sealed class TaskCache<TKey, TResult> : ICacheMetricsSource
    where TKey : notnull
{
    private const long KeepForever = long.MaxValue;

    private readonly EntryMap<TKey, Task<TResult>> _map; // the shared tasks; each one's AsyncState is its entry
    private readonly ConcurrentDictionary<TKey, Task<TResult>>? _dictionary; // _map's, when unbounded
    private readonly bool _mayExpire; // a time to live or a selector: hits must check the entry's expiry
    private readonly bool _fastHits; // unbounded and no counters: hits need only the dictionary
    private readonly bool _boundedHits; // bounded and no counters: hits need only the bounded store
    private readonly LruCache<TKey, Task<TResult>>? _lru; // _map's, when bounded by exact recency
    private readonly S3FifoCache<TKey, Task<TResult>>? _s3Fifo; // _map's, when bounded by S3-FIFO
    private readonly CacheClock _clock;
    private readonly long _timeToLive; // clock ticks; KeepForever, or 0 for "do not keep"
    private readonly Func<TKey, TResult, TimeSpan?>? _timeToLiveSelector;
    private readonly bool _evictOnException;
    private readonly TimeSpan _timeout;
    private readonly bool _hasTimeout;
    private readonly CacheCounters? _counters;
    private readonly string? _name;
    private readonly ExpiryQueue<TaskCacheEntry<TKey, TResult>> _expiry = new(); // only entries the map holds

    /// <summary>Creates an unbounded cache that keeps results until invalidated and does not cache failures.</summary>
    public TaskCache()
        : this(null)
    {
    }

    /// <summary>Creates a cache with the given settings.</summary>
    /// <param name="options">Time to live, size bound, failure policy, timeout, clock, comparer and statistics; copied, may be <see langword="null"/>.</param>
    public TaskCache(TaskCacheOptions<TKey, TResult>? options)
    {
        _clock = new CacheClock(options?.TimeProvider);
        _timeToLive = ToTicks(options?.TimeToLive);
        _timeToLiveSelector = options?.TimeToLiveSelector;
        _mayExpire = _timeToLive != KeepForever || _timeToLiveSelector is not null;

        // An entry that leaves the map leaves the expiry queue with it, so that the queue never
        // keeps an evicted or invalidated result reachable. Without expiry nothing is ever queued.
        _map = new EntryMap<TKey, Task<TResult>>(
            options?.MaxSize,
            options?.EvictionPolicy ?? CacheEvictionPolicy.Lru,
            options?.Comparer,
            _mayExpire ? task => _expiry.Remove(TaskCacheEntry<TKey, TResult>.Of(task)) : null);
        _dictionary = _map.Dictionary;
        _lru = _map.Lru;
        _s3Fifo = _map.S3Fifo;
        _evictOnException = options?.EvictOnException ?? true;
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
        TaskCacheMetrics.Instruments.Register(this);
    }

    /// <summary>
    /// The number of entries stored: calls in flight, completed entries, and expired entries not yet
    /// removed. O(1) with a size bound; without one it briefly locks the whole map, so do not poll it.
    /// </summary>
    public int Count => _map.Count;

    /// <summary>The entries the expiry queue holds (for the tests: it must never exceed the stored entries).</summary>
    internal int ExpiryQueueCount => _expiry.Count;

    /// <summary>
    /// Returns the task for <paramref name="key"/>: the cached one if it is live or in flight,
    /// otherwise a new one whose call <paramref name="function"/> starts now.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="function">
    /// Computes the result for the key; it receives the key and the shared call's token (cancelled
    /// only by the timeout). Pass a <see langword="static"/> lambda, or use
    /// <see cref="GetOrAddAsync{TState}(TKey, Func{TKey, TState, CancellationToken, Task{TResult}}, TState)"/>
    /// to give it state without allocating a closure.
    /// </param>
    /// <returns>
    /// The shared task; every concurrent caller of the key gets this same instance. It faults with
    /// <see cref="InvalidOperationException"/> when the caller is the function computing this key
    /// (see Recursion in the class remarks).
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    public Task<TResult> GetOrAddAsync(TKey key, Func<TKey, CancellationToken, Task<TResult>> function)
    {
        ArgumentNullException.ThrowIfNull(function);
        // The hit, kept small so that it costs what the dictionary lookup costs: an unbounded map, no
        // counters. Without expiry every task in the map may be handed out as it is (a failed or
        // timed-out call is removed before its task completes), but joining a call in flight first
        // checks, out of line, that the caller is not the call's own function asking for its key.
        // The bounded hit, counters and everything else go out of line.
        if (_fastHits
            && _dictionary!.TryGetValue(key, out Task<TResult>? task)
            && (_mayExpire ? IsLive(Volatile.Read(ref TaskCacheEntry<TKey, TResult>.Of(task).ExpiresAt)) : task.IsCompleted || MayJoin(task)))
        {
            return task;
        }

        return GetOrAddSlow(key, function);
    }

    /// <summary>
    /// Returns the task for <paramref name="key"/>: the cached one if it is live or in flight,
    /// otherwise a new one whose call <paramref name="function"/> starts now with
    /// <paramref name="state"/>, so that no closure is allocated.
    /// </summary>
    /// <typeparam name="TState">The state's type.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="function">Computes the result; it receives the key, <paramref name="state"/> and the shared call's token.</param>
    /// <param name="state">Passed to <paramref name="function"/> when a call starts; not part of the key.</param>
    /// <returns>
    /// The shared task; every concurrent caller of the key gets this same instance. It faults with
    /// <see cref="InvalidOperationException"/> when the caller is the function computing this key
    /// (see Recursion in the class remarks).
    /// </returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    public Task<TResult> GetOrAddAsync<TState>(TKey key, Func<TKey, TState, CancellationToken, Task<TResult>> function, TState state)
    {
        ArgumentNullException.ThrowIfNull(function);
        // The hit, kept small so that it costs what the dictionary lookup costs: an unbounded map, no
        // counters. Without expiry every task in the map may be handed out as it is (a failed or
        // timed-out call is removed before its task completes), but joining a call in flight first
        // checks, out of line, that the caller is not the call's own function asking for its key.
        // The bounded hit, counters and everything else go out of line.
        if (_fastHits
            && _dictionary!.TryGetValue(key, out Task<TResult>? task)
            && (_mayExpire ? IsLive(Volatile.Read(ref TaskCacheEntry<TKey, TResult>.Of(task).ExpiresAt)) : task.IsCompleted || MayJoin(task)))
        {
            return task;
        }

        return GetOrAddSlow(key, function, state);
    }

    /// <summary>
    /// Forgets <paramref name="key"/>: the next caller starts a new call. A call in flight is not
    /// cancelled: those already holding its task still get its outcome, which is then not cached.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <returns><see langword="true"/> when a live or in-flight entry was removed.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is <see langword="null"/>.</exception>
    public bool Invalidate(TKey key)
    {
        if (!_map.Remove(key, out Task<TResult>? task))
        {
            return false;
        }

        long expiresAt = Volatile.Read(ref TaskCacheEntry<TKey, TResult>.Of(task).ExpiresAt);
        return expiresAt == TaskCacheEntry<TKey, TResult>.Pending || IsLive(expiresAt);
    }

    /// <summary>
    /// Forgets every key. Calls in flight are not cancelled; their outcomes reach those already
    /// holding their tasks and are not cached. O(n).
    /// </summary>
    public void Clear() => _map.Clear(); // every entry leaves the expiry queue with the map

    /// <summary>
    /// Returns the hit, miss, coalesced and in-flight counters, or <see langword="null"/> unless
    /// <see cref="TaskCacheOptions{TKey, TResult}.TrackStatistics"/> was set.
    /// </summary>
    /// <returns>A snapshot of the counters, or <see langword="null"/>.</returns>
    public TaskCacheStatistics? GetStatistics() => _counters?.Snapshot();

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

    // ------------------------------------------------------------------ lookup and start

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsLive(long expiresAt) =>
        expiresAt == TaskCacheEntry<TKey, TResult>.Forever
        || (expiresAt > TaskCacheEntry<TKey, TResult>.Dead && _clock.Now() < expiresAt);

    /// <summary>
    /// The hit on a bounded map without counters, in the out-of-line part so that the unbounded hit
    /// stays small, but reading the bounded store directly: one call from the public method to the
    /// store's read, no further call through the map. The S3-FIFO read is a lookup and a plain store;
    /// the exact LRU's read also records the hit's recency, which is most of its cost.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryHitBounded(TKey key, [NotNullWhen(true)] out Task<TResult>? task) =>
        _s3Fifo is not null ? _s3Fifo.TryGetValue(key, out task) && IsHit(task) : TryHitLru(key, out task);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryHitLru(TKey key, [NotNullWhen(true)] out Task<TResult>? task) =>
        _lru!.TryGetValue(key, out task) && IsHit(task);

    /// <summary>Whether a task found in the map may be handed out as it is: live, or in flight and joinable.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsHit(Task<TResult> task) =>
        _mayExpire ? IsLive(Volatile.Read(ref TaskCacheEntry<TKey, TResult>.Of(task).ExpiresAt)) : task.IsCompleted || MayJoin(task);

    /// <summary>
    /// Whether the current flow may join the call in flight behind <paramref name="task"/>: it may
    /// unless it is computing that very call (the slow path then reports the recursion). Out of
    /// line, so that a hit on a completed entry does not carry it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool MayJoin(Task<TResult> task) => !CallFrame.IsComputing(TaskCacheEntry<TKey, TResult>.Of(task).Frame);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private Task<TResult> GetOrAddSlow(TKey key, Func<TKey, CancellationToken, Task<TResult>> function) =>
        _boundedHits && TryHitBounded(key, out Task<TResult>? task) ? task : GetOrStart(key, static (k, f, ct) => f(k, ct), function);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private Task<TResult> GetOrAddSlow<TState>(TKey key, Func<TKey, TState, CancellationToken, Task<TResult>> function, TState state) =>
        _boundedHits && TryHitBounded(key, out Task<TResult>? task) ? task : GetOrStart(key, function, state);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private Task<TResult> GetOrStart<TState>(TKey key, Func<TKey, TState, CancellationToken, Task<TResult>> function, TState state)
    {
        TaskCacheEntry<TKey, TResult>? created = null;
        while (true)
        {
            if (_map.TryGet(key, out Task<TResult>? current))
            {
                long expiresAt = Volatile.Read(ref TaskCacheEntry<TKey, TResult>.Of(current).ExpiresAt);
                if (expiresAt == TaskCacheEntry<TKey, TResult>.Pending)
                {
                    if (CallFrame.IsComputing(TaskCacheEntry<TKey, TResult>.Of(current).Frame))
                    {
                        return Task.FromException<TResult>(RecursionError(key));
                    }

                    _counters?.Coalesce();
                    return current;
                }

                if (IsLive(expiresAt))
                {
                    _counters?.Hit();
                    return current;
                }

                // Dead or expired: replace it, unless someone else does first.
            }

            created ??= new TaskCacheEntry<TKey, TResult>(this, key);
            if (_map.TryReplace(key, current, created.Task))
            {
                _counters?.Miss();
                Start(created, function, state);
                return created.Task;
            }
        }
    }

    private void Start<TState>(TaskCacheEntry<TKey, TResult> entry, Func<TKey, TState, CancellationToken, Task<TResult>> function, TState state)
    {
        _counters?.CallStarted();
        CancellationToken token = default;
        if (_hasTimeout)
        {
            var timeoutSource = new CancellationTokenSource(_timeout, _clock.Provider);
            entry.TimeoutSource = timeoutSource;
            token = timeoutSource.Token;
            token.UnsafeRegister(static e => OnTimeout((TaskCacheEntry<TKey, TResult>)e!), entry);
        }

        // The function runs marked as computing this call in its flow (and the flows it starts),
        // but the mark is taken off before control returns to the caller.
        Task<TResult>? task = null;
        Exception? thrown = null;
        CallFrame? callers = entry.Frame.Enter();
        try
        {
            task = function(entry.Key, state, token);
        }
#pragma warning disable CA1031 // A synchronous throw is the call's outcome, delivered through the task.
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
            Complete(entry, null, thrown);
            return;
        }

        if (task is null)
        {
            Complete(entry, null, new InvalidOperationException("The cached function returned null instead of a task."));
            return;
        }

        entry.Source = task;
        if (task.IsCompleted)
        {
            Complete(entry, task, null);
        }
        else
        {
            task.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(entry.OnSourceCompleted);
        }
    }

    // ------------------------------------------------------------------ completion

    /// <summary>Runs once the function's task completed, or it threw (<paramref name="thrown"/>).</summary>
    internal void Complete(TaskCacheEntry<TKey, TResult> entry, Task<TResult>? task, Exception? thrown)
    {
        _counters?.CallFinished();
        entry.Source = null;
        CancellationTokenSource? timeoutSource = entry.TimeoutSource;
        timeoutSource?.Dispose(); // the function is done with its token; this also stops the timer

        bool succeeded = thrown is null && task!.IsCompletedSuccessfully;
        if (!succeeded)
        {
            _ = task?.Exception; // observed here; the shared task carries it on
            if (timeoutSource is { IsCancellationRequested: true })
            {
                // The function gave up because the timeout fired: report the timeout, not its cancellation.
                OnTimeout(entry);
                return;
            }
        }

        if (Interlocked.CompareExchange(ref entry.State, TaskCacheEntry<TKey, TResult>.Finished, TaskCacheEntry<TKey, TResult>.Running)
            != TaskCacheEntry<TKey, TResult>.Running)
        {
            return; // timed out first: the waiters have their TimeoutException and the key is free
        }

        if (succeeded)
        {
            TResult value = task!.Result;
            long expiresAt;
            try
            {
                expiresAt = ExpiryFor(entry.Key, value);
            }
#pragma warning disable CA1031 // A throwing selector fails the call: the callers see its exception.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Fail(entry, null, ex);
                return;
            }

            Publish(entry, expiresAt);
            entry.Completion.TrySetResult(value);
            return;
        }

        Fail(entry, task, thrown);
    }

    private void Fail(TaskCacheEntry<TKey, TResult> entry, Task<TResult>? task, Exception? thrown)
    {
        // Decide the entry's fate before completing the task, so that a caller that reacts to the
        // failure by calling again already starts a new call.
        Publish(entry, _evictOnException ? TaskCacheEntry<TKey, TResult>.Dead : DefaultExpiry());

        if (task is not null)
        {
            if (task.IsCanceled)
            {
                entry.Completion.TrySetCanceled(CancellationTokenOf(task));
            }
            else
            {
                entry.Completion.TrySetException(task.Exception!.InnerExceptions);
            }
        }
        else if (thrown is OperationCanceledException canceled)
        {
            entry.Completion.TrySetCanceled(canceled.CancellationToken);
        }
        else
        {
            entry.Completion.TrySetException(thrown!);
        }

        // Observed here: every caller that awaits the shared task still gets the exception, but one
        // that nobody awaits any more (they all stopped waiting) must not reach
        // TaskScheduler.UnobservedTaskException.
        _ = entry.Task.Exception;
    }

    private static InvalidOperationException RecursionError(TKey key) =>
        new($"The cached function for key '{key}' asked for its own key while computing it (directly or through other keys): it would wait for itself forever. Compute the value without asking the cache for the key being computed.");

    private static CancellationToken CancellationTokenOf(Task<TResult> canceled)
    {
        try
        {
            canceled.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException ex)
        {
            return ex.CancellationToken;
        }

        return default;
    }

    private static void OnTimeout(TaskCacheEntry<TKey, TResult> entry)
    {
        if (Interlocked.CompareExchange(ref entry.State, TaskCacheEntry<TKey, TResult>.TimedOut, TaskCacheEntry<TKey, TResult>.Running)
            != TaskCacheEntry<TKey, TResult>.Running)
        {
            return;
        }

        TaskCache<TKey, TResult> cache = entry.Owner;
        cache.Publish(entry, TaskCacheEntry<TKey, TResult>.Dead); // frees the key before anyone learns of the timeout
        entry.Completion.TrySetException(new TimeoutException($"The cached call did not complete within {cache._timeout}."));
        _ = entry.Task.Exception; // observed: see Fail
    }

    /// <summary>Makes a completed entry visible with its expiry, or removes it when it must not be kept.</summary>
    private void Publish(TaskCacheEntry<TKey, TResult> entry, long expiresAt)
    {
        Volatile.Write(ref entry.ExpiresAt, expiresAt);
        if (expiresAt == TaskCacheEntry<TKey, TResult>.Dead)
        {
            _map.RemoveIfCurrent(entry.Key, entry.Task);
        }
        else if (expiresAt != TaskCacheEntry<TKey, TResult>.Forever)
        {
            TrackExpiry(entry, expiresAt);
        }
    }

    private void TrackExpiry(TaskCacheEntry<TKey, TResult> entry, long expiresAt)
    {
        // Not queued if the entry already left the map (evicted or invalidated while its call ran).
        _expiry.Add(entry, expiresAt, _clock.Now(), out TaskCacheEntry<TKey, TResult>? first, out TaskCacheEntry<TKey, TResult>? second);

        // Removal is conditional: an entry already replaced, invalidated or evicted is left alone.
        if (first is not null)
        {
            _map.RemoveIfCurrent(first.Key, first.Task);
        }

        if (second is not null)
        {
            _map.RemoveIfCurrent(second.Key, second.Task);
        }
    }

    private long DefaultExpiry() => _timeToLive switch
    {
        KeepForever => TaskCacheEntry<TKey, TResult>.Forever,
        0 => TaskCacheEntry<TKey, TResult>.Dead,
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
            return TaskCacheEntry<TKey, TResult>.Forever;
        }

        if (chosen < TimeSpan.Zero)
        {
            throw new InvalidOperationException($"TimeToLiveSelector returned {chosen} for key '{key}'; it must return null, TimeSpan.Zero, a positive duration or Timeout.InfiniteTimeSpan.");
        }

        return chosen == TimeSpan.Zero ? TaskCacheEntry<TKey, TResult>.Dead : _clock.Now() + _clock.ToTicks(chosen);
    }

    private long ToTicks(TimeSpan? timeToLive) => timeToLive switch
    {
        null => KeepForever,
        TimeSpan ttl when ttl == Timeout.InfiniteTimeSpan => KeepForever,
        TimeSpan ttl when ttl == TimeSpan.Zero => 0,
        TimeSpan ttl => _clock.ToTicks(ttl),
    };
}
