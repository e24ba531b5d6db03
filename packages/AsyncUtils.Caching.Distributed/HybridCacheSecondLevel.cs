using Microsoft.Extensions.Caching.Hybrid;

namespace AsyncUtils;

/// <summary>
/// An <see cref="ISecondLevelCache"/> over an existing <see cref="HybridCache"/> registration, so that a
/// <see cref="DistributedTaskCache{TValue}"/> or <see cref="DistributedCoroutineCache{TValue}"/> in front of it
/// adds what HybridCache lacks within a process: an allocation-free first level, and invalidation that wins
/// over a call that started before it. HybridCache keeps doing the storage (its memory level and its
/// <c>IDistributedCache</c>, serialized through its own serializer for <see cref="byte"/>[]).
/// </summary>
/// <remarks>
/// <para>Guarantees are those of <see cref="DistributedCacheSecondLevel"/>: one call per key per process (the
/// first level's), and within this process a call that started before an invalidation never leaves its value
/// in the HybridCache (1,024 striped versions, checked before and after the write, which is removed again if
/// an invalidation slipped in between).</para>
/// <para>Not given, because HybridCache has no backplane and no distributed lock: other processes keep their
/// first-level and HybridCache memory copies until these expire, concurrent processes may each call once, and
/// an invalidation in one process does not stop a call already running in another from writing.</para>
/// <para>The bytes are stored under <c>keyPrefix + key</c> as HybridCache entries of type <see cref="byte"/>[]
/// (one marker byte, then the serialized value);
/// use a prefix of their own, not keys that HybridCache users read with another type. A
/// <see langword="null"/> time to live uses the HybridCache's default entry options.</para>
/// </remarks>
public sealed class HybridCacheSecondLevel : ISecondLevelCache
{
    private const byte Marker = 1;

    private static readonly HybridCacheEntryOptions ReadOnly = new()
    {
        Flags = HybridCacheEntryFlags.DisableLocalCacheWrite | HybridCacheEntryFlags.DisableDistributedCacheWrite,
    };

    private readonly HybridCache _cache;
    private readonly string _keyPrefix;
    private readonly StripedVersions _versions = new();

    /// <summary>Creates a second level over <paramref name="cache"/>.</summary>
    /// <param name="cache">The HybridCache that stores the bytes (for example the one registered with <c>AddHybridCache</c>).</param>
    /// <param name="keyPrefix">Put in front of every key (to keep this cache's entries apart).</param>
    /// <exception cref="ArgumentNullException"><paramref name="cache"/> or <paramref name="keyPrefix"/> is <see langword="null"/>.</exception>
    public HybridCacheSecondLevel(HybridCache cache, string keyPrefix = "")
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(keyPrefix);
        _cache = cache;
        _keyPrefix = keyPrefix;
    }

    /// <inheritdoc />
    /// <remarks>A miss is not written to the HybridCache (both write flags are set for the read).</remarks>
    public async ValueTask<SecondLevelEntry> ReadAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        long version = _versions.Read(key);
        byte[]? value = await _cache.GetOrCreateAsync<byte[]?>(
            _keyPrefix + key,
            static _ => new ValueTask<byte[]?>((byte[]?)null),
            ReadOnly,
            tags: null,
            cancellationToken).ConfigureAwait(false);
        // HybridCache hands a missing byte[] back as an empty one: stored entries carry a marker byte.
        return new SecondLevelEntry(value is { Length: > 0 } && value[0] == Marker ? value[1..] : null, version);
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

        HybridCacheEntryOptions? options = null;
        if (timeToLive is { } ttl && ttl != Timeout.InfiniteTimeSpan)
        {
            options = new HybridCacheEntryOptions { Expiration = ttl, LocalCacheExpiration = ttl };
        }

        string storeKey = _keyPrefix + key;
        byte[] stored = new byte[bytes.Length + 1];
        stored[0] = Marker;
        bytes.Span.CopyTo(stored.AsSpan(1));
        await _cache.SetAsync(storeKey, stored, options).ConfigureAwait(false);

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
    /// <remarks>HybridCache has no backplane: the callback is never called.</remarks>
    public IDisposable Subscribe(Action<string?> onInvalidated)
    {
        ArgumentNullException.ThrowIfNull(onInvalidated);
        return NoSubscription.Instance;
    }
}
