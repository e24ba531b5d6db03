namespace AsyncUtils;

/// <summary>
/// A <see cref="TaskCache{TKey, TResult}"/> (the first level, L1) in front of a shared second level (L2):
/// on an L1 miss the one call the L1 starts reads L2, and only on an L2 miss runs your function and writes
/// its result to L2. Every caller of a key in this process shares one <see cref="Task{TResult}"/>, as with
/// <see cref="TaskCache{TKey, TResult}"/>.
/// </summary>
/// <typeparam name="TValue">The type of the cached values.</typeparam>
/// <remarks>
/// <para>An L1 hit costs exactly what a <see cref="TaskCache{TKey, TResult}"/> hit costs (no allocation):
/// the second level is only touched on an L1 miss.</para>
/// <para>Results are written to L2 with the time to live of <see cref="DistributedCacheOptions{TValue}.TimeToLive"/>
/// counted from completion; failures are never written. A second level that fails (down, slow, a value that
/// does not serialize or is too large) never fails a call: the function runs and its result reaches the
/// callers, and the problem goes to <see cref="DistributedCacheOptions{TValue}.SecondLevelFailed"/>.</para>
/// </remarks>
public sealed class DistributedTaskCache<TValue> : IDisposable
{
    private readonly SecondLevelLoader<TValue> _loader;
    private readonly IDisposable _subscription;

    /// <summary>Creates a two-level cache.</summary>
    /// <param name="secondLevel">The shared level: <see cref="DistributedCacheSecondLevel"/>, <see cref="HybridCacheSecondLevel"/> or <c>RedisSecondLevelCache</c>.</param>
    /// <param name="options">Serializer, L2 time to live, size limit, failure callback; <see langword="null"/> for the defaults.</param>
    /// <param name="firstLevel">The in-process level's options (time to live, size bound, timeout); <see langword="null"/> for the defaults.</param>
    /// <exception cref="ArgumentNullException"><paramref name="secondLevel"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">No serializer for <typeparamref name="TValue"/>, or an option is out of range.</exception>
    public DistributedTaskCache(ISecondLevelCache secondLevel, DistributedCacheOptions<TValue>? options = null, TaskCacheOptions<string, TValue>? firstLevel = null)
    {
        ArgumentNullException.ThrowIfNull(secondLevel);
        _loader = new SecondLevelLoader<TValue>(secondLevel, options);
        FirstLevel = new TaskCache<string, TValue>(firstLevel);
        _subscription = secondLevel.Subscribe(OnInvalidated);
    }

    /// <summary>The in-process level, for its counters and <c>Count</c>. Invalidating it directly leaves L2 untouched.</summary>
    public TaskCache<string, TValue> FirstLevel { get; }

    /// <summary>Returns the shared task for <paramref name="key"/>: from L1, else from L2, else from one call of <paramref name="function"/>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="function">Computes the value on a miss of both levels; gets the shared call's token.</param>
    /// <returns>The shared task.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    public Task<TValue> GetOrAddAsync(string key, Func<string, CancellationToken, Task<TValue>> function)
    {
        ArgumentNullException.ThrowIfNull(function);
        return GetOrAddAsync(key, static (k, f, ct) => f(k, ct), function);
    }

    /// <summary>Returns the shared task for <paramref name="key"/>, passing <paramref name="state"/> to the function without a closure.</summary>
    /// <typeparam name="TState">The type of the state.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="function">Computes the value on a miss of both levels; gets the shared call's token.</param>
    /// <param name="state">Passed to <paramref name="function"/>.</param>
    /// <returns>The shared task.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    public Task<TValue> GetOrAddAsync<TState>(string key, Func<string, TState, CancellationToken, Task<TValue>> function, TState state)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(function);
        return FirstLevel.GetOrAddAsync(
            key,
            static (k, s, ct) => s.Loader.LoadAsync(k, static (k2, s2, ct2) => new ValueTask<TValue>(s2.Function(k2, s2.State, ct2)), s, ct).AsTask(),
            (Loader: _loader, Function: function, State: state)); // a value tuple: an L1 hit allocates nothing
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
