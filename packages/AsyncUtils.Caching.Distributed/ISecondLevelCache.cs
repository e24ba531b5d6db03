namespace AsyncUtils;

/// <summary>
/// The storage and coordination behind <see cref="DistributedTaskCache{TValue}"/> and
/// <see cref="DistributedCoroutineCache{TValue}"/>: <see cref="DistributedCacheSecondLevel"/> over any
/// <c>IDistributedCache</c> or <see cref="HybridCacheSecondLevel"/> over a <c>HybridCache</c> (one process's
/// guarantees), or <c>RedisSecondLevelCache</c> from
/// AsyncUtils.Caching.Redis (a backplane, one call per key across processes, invalidation that wins
/// across processes).
/// </summary>
/// <remarks>
/// The caches call these members only from an L1 miss (at most one per key and cache at a time) and
/// from an invalidation; they catch and report every exception, so an implementation may simply let
/// I/O failures propagate.
/// </remarks>
public interface ISecondLevelCache
{
    /// <summary>Reads the stored bytes of <paramref name="key"/> and the key's current version.</summary>
    /// <param name="key">The cache key.</param>
    /// <param name="cancellationToken">Stops the read.</param>
    /// <returns>The bytes (or <see langword="null"/> on a miss) and a version to pass to <see cref="EndCallAsync"/>.</returns>
    public ValueTask<SecondLevelEntry> ReadAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// Called after a miss, before running the function: <see langword="true"/> when this caller should run
    /// it (it then must call <see cref="EndCallAsync"/>); <see langword="false"/> after waiting for another
    /// process's call, when the caller should read again.
    /// </summary>
    /// <param name="key">The cache key.</param>
    /// <param name="cancellationToken">Stops the wait.</param>
    /// <returns>Whether this caller runs the function.</returns>
    public ValueTask<bool> TryBeginCallAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// Ends a call begun with <see cref="TryBeginCallAsync"/>: stores <paramref name="value"/> unless it is
    /// <see langword="null"/> or the key was invalidated since <paramref name="version"/> was read, and
    /// releases whatever the call held.
    /// </summary>
    /// <param name="key">The cache key.</param>
    /// <param name="version">The version returned by the read that preceded the call.</param>
    /// <param name="value">The bytes to store, or <see langword="null"/> to store nothing (failure, not cacheable).</param>
    /// <param name="timeToLive">How long the stored bytes live; <see langword="null"/> for no expiry.</param>
    /// <returns><see langword="true"/> when the bytes were stored.</returns>
    public ValueTask<bool> EndCallAsync(string key, long version, ReadOnlyMemory<byte>? value, TimeSpan? timeToLive);

    /// <summary>Removes <paramref name="key"/> and makes every call that read an older version unable to store its result.</summary>
    /// <param name="key">The cache key.</param>
    /// <param name="cancellationToken">Stops the wait for the removal (the removal may still happen).</param>
    /// <returns>A task that completes when the removal is done.</returns>
    public ValueTask InvalidateAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// Registers a callback told when another process invalidated or rewrote a key (<see langword="null"/>:
    /// any key may be stale, e.g. after a lost connection). A level without a backplane never calls it.
    /// </summary>
    /// <param name="onInvalidated">The callback; it must not block.</param>
    /// <returns>Dispose it to unregister.</returns>
    public IDisposable Subscribe(Action<string?> onInvalidated);
}
