namespace AsyncUtils;

/// <summary>
/// A <see cref="CoroutineCache{TKey, TResult}"/> (the first level, L1) in front of a shared second level (L2):
/// on an L1 miss the one call the L1 starts reads L2, and only on an L2 miss runs your function and writes
/// its result to L2. An L1 hit returns a completed <see cref="ValueTask{TResult}"/> synchronously and without
/// allocating, and each caller's token only ends its own wait, as with <see cref="CoroutineCache{TKey, TResult}"/>.
/// </summary>
/// <typeparam name="TValue">The type of the cached values.</typeparam>
/// <remarks>
/// <para>Results are written to L2 with the time to live of <see cref="DistributedCacheOptions{TValue}.TimeToLive"/>
/// counted from completion; failures are never written. A second level that fails (down, slow, a value that
/// does not serialize or is too large) never fails a call: the function runs and its result reaches the
/// callers, and the problem goes to <see cref="DistributedCacheOptions{TValue}.SecondLevelFailed"/>.</para>
/// </remarks>
public sealed class DistributedCoroutineCache<TValue> : IDisposable
{
    private readonly SecondLevelLoader<TValue> _loader;
    private readonly IDisposable _subscription;

    /// <summary>Creates a two-level cache.</summary>
    /// <param name="secondLevel">The shared level: <see cref="DistributedCacheSecondLevel"/>, <see cref="HybridCacheSecondLevel"/> or <c>RedisSecondLevelCache</c>.</param>
    /// <param name="options">Serializer, L2 time to live, size limit, failure callback; <see langword="null"/> for the defaults.</param>
    /// <param name="firstLevel">The in-process level's options (time to live, size bound, timeout, cancel when all waiters cancel); <see langword="null"/> for the defaults.</param>
    /// <exception cref="ArgumentNullException"><paramref name="secondLevel"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">No serializer for <typeparamref name="TValue"/>, or an option is out of range.</exception>
    public DistributedCoroutineCache(ISecondLevelCache secondLevel, DistributedCacheOptions<TValue>? options = null, CoroutineCacheOptions<string, TValue>? firstLevel = null)
    {
        ArgumentNullException.ThrowIfNull(secondLevel);
        _loader = new SecondLevelLoader<TValue>(secondLevel, options);
        FirstLevel = new CoroutineCache<string, TValue>(firstLevel);
        _subscription = secondLevel.Subscribe(OnInvalidated);
    }

    /// <summary>The in-process level, for its counters and <c>Count</c>. Invalidating it directly leaves L2 untouched.</summary>
    public CoroutineCache<string, TValue> FirstLevel { get; }

    /// <summary>Returns the value of <paramref name="key"/>: from L1, else from L2, else from one call of <paramref name="function"/>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="function">Computes the value on a miss of both levels; gets the shared call's token.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    public ValueTask<TValue> GetOrAddAsync(string key, Func<string, CancellationToken, ValueTask<TValue>> function) =>
        GetOrAddAsync(key, function, CancellationToken.None);

    /// <summary>Returns the value of <paramref name="key"/>; <paramref name="cancellationToken"/> ends this caller's wait only.</summary>
    /// <param name="key">The key.</param>
    /// <param name="function">Computes the value on a miss of both levels; gets the shared call's token.</param>
    /// <param name="cancellationToken">Ends this caller's wait; never cancels the shared call (unless the L1's <c>CancelWhenAllWaitersCancel</c> says so).</param>
    /// <returns>The value.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    public ValueTask<TValue> GetOrAddAsync(string key, Func<string, CancellationToken, ValueTask<TValue>> function, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(function);
        return GetOrAddAsync(key, static (k, f, ct) => f(k, ct), function, cancellationToken);
    }

    /// <summary>Returns the value of <paramref name="key"/>, passing <paramref name="state"/> to the function without a closure.</summary>
    /// <typeparam name="TState">The type of the state.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="function">Computes the value on a miss of both levels; gets the shared call's token.</param>
    /// <param name="state">Passed to <paramref name="function"/>.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    public ValueTask<TValue> GetOrAddAsync<TState>(string key, Func<string, TState, CancellationToken, ValueTask<TValue>> function, TState state) =>
        GetOrAddAsync(key, function, state, CancellationToken.None);

    /// <summary>Returns the value of <paramref name="key"/>, passing <paramref name="state"/> without a closure; <paramref name="cancellationToken"/> ends this caller's wait only.</summary>
    /// <typeparam name="TState">The type of the state.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="function">Computes the value on a miss of both levels; gets the shared call's token.</param>
    /// <param name="state">Passed to <paramref name="function"/>.</param>
    /// <param name="cancellationToken">Ends this caller's wait; never cancels the shared call (unless the L1's <c>CancelWhenAllWaitersCancel</c> says so).</param>
    /// <returns>The value.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    public ValueTask<TValue> GetOrAddAsync<TState>(
        string key, Func<string, TState, CancellationToken, ValueTask<TValue>> function, TState state, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(function);
        return FirstLevel.GetOrAddAsync(
            key,
            static (k, s, ct) => s.Loader.LoadAsync(k, static (k2, s2, ct2) => s2.Function(k2, s2.State, ct2), s, ct),
            (Loader: _loader, Function: function, State: state), // a value tuple: an L1 hit allocates nothing
            cancellationToken);
    }

    /// <summary>
    /// Forgets <paramref name="key"/> in L1 at once, then in L2 (and, with a backplane, in every process's L1).
    /// A call that started before never writes its result to L2.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="cancellationToken">Stops waiting for L2 (the removal may still happen).</param>
    /// <returns><see langword="true"/> when L2 confirmed the removal; <see langword="false"/> when it failed (reported through <see cref="DistributedCacheOptions{TValue}.SecondLevelFailed"/>).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is <see langword="null"/>.</exception>
    public Task<bool> InvalidateAsync(string key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        FirstLevel.Invalidate(key);
        return _loader.InvalidateAsync(key, cancellationToken);
    }

    /// <summary>Stops listening to the second level's backplane. The caches keep working.</summary>
    public void Dispose() => _subscription.Dispose();

    private void OnInvalidated(string? key)
    {
        if (key is null)
        {
            FirstLevel.Clear();
        }
        else
        {
            FirstLevel.Invalidate(key);
        }
    }
}
