using Microsoft.Extensions.Caching.Distributed;

namespace AsyncUtils;

/// <summary>
/// An <see cref="ISecondLevelCache"/> over any <see cref="IDistributedCache"/> (Redis, SQL Server, Postgres,
/// Garnet, memory). Within this process, an invalidation wins over a call that started before it: such a
/// call never leaves its value in the store. There is no backplane and no cross-process single flight;
/// for those use <c>RedisSecondLevelCache</c> from AsyncUtils.Caching.Redis.
/// </summary>
/// <remarks>
/// Invalidation is tracked with 1,024 striped counters (no per-key memory): an invalidation of another key
/// on the same stripe may make a concurrent call skip its write, which only costs a later L2 miss.
/// The store itself offers no compare-and-set, so a call racing an invalidation may leave its value
/// visible for the moment between its write and its own re-check, which then removes it.
/// </remarks>
public sealed class DistributedCacheSecondLevel : ISecondLevelCache
{
    private readonly IDistributedCache _cache;
    private readonly string _keyPrefix;
    private readonly StripedVersions _versions = new();

    /// <summary>Creates a second level over <paramref name="cache"/>.</summary>
    /// <param name="cache">The distributed cache that stores the bytes.</param>
    /// <param name="keyPrefix">Put in front of every key in the store (to share one store between caches).</param>
    /// <exception cref="ArgumentNullException"><paramref name="cache"/> or <paramref name="keyPrefix"/> is <see langword="null"/>.</exception>
    public DistributedCacheSecondLevel(IDistributedCache cache, string keyPrefix = "")
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(keyPrefix);
        _cache = cache;
        _keyPrefix = keyPrefix;
    }

    /// <inheritdoc />
    public async ValueTask<SecondLevelEntry> ReadAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        long version = _versions.Read(key);
        byte[]? value = await _cache.GetAsync(_keyPrefix + key, cancellationToken).ConfigureAwait(false);
        return new SecondLevelEntry(value, version);
    }

    /// <inheritdoc />
    /// <remarks>Always <see langword="true"/>: the first level already runs one call per key in this process.</remarks>
    public ValueTask<bool> TryBeginCallAsync(string key, CancellationToken cancellationToken) => new(true);

    /// <inheritdoc />
    public async ValueTask<bool> EndCallAsync(string key, long version, ReadOnlyMemory<byte>? value, TimeSpan? timeToLive)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (value is not { } bytes || !_versions.IsCurrent(key, version))
        {
            return false;
        }

        var options = new DistributedCacheEntryOptions();
        if (timeToLive is { } ttl && ttl != Timeout.InfiniteTimeSpan)
        {
            options.AbsoluteExpirationRelativeToNow = ttl;
        }

        string storeKey = _keyPrefix + key;
        await _cache.SetAsync(storeKey, bytes.ToArray(), options).ConfigureAwait(false);

        // An invalidation that ran between the check above and the write may have removed the key
        // before the write landed: re-check, and remove what we wrote.
        if (!_versions.IsCurrent(key, version))
        {
            await _cache.RemoveAsync(storeKey).ConfigureAwait(false);
            return false;
        }

        return true;
    }

    /// <inheritdoc />
    public async ValueTask InvalidateAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        _versions.Invalidate(key);
        await _cache.RemoveAsync(_keyPrefix + key, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>This level has no backplane: the callback is never called.</remarks>
    public IDisposable Subscribe(Action<string?> onInvalidated)
    {
        ArgumentNullException.ThrowIfNull(onInvalidated);
        return NoSubscription.Instance;
    }
}
