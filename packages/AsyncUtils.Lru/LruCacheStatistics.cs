using System.Runtime.InteropServices;

namespace AsyncUtils;

/// <summary>
/// A snapshot of a cache's counters, taken by <c>GetStatistics()</c>. The counters are
/// cumulative from the cache's creation and are not reset by <c>Clear</c>. Under concurrent use
/// the snapshot is not atomic across counters, but each counter only grows.
/// </summary>
[StructLayout(LayoutKind.Auto)]
public readonly struct LruCacheStatistics : IEquatable<LruCacheStatistics>
{
    /// <summary>Creates a snapshot with the given counters.</summary>
    /// <param name="hits">Reads that found a live entry.</param>
    /// <param name="misses">Reads that found no entry or an expired one.</param>
    /// <param name="evictions">Entries removed to make room, <see cref="CacheRemovalReason.Evicted"/>.</param>
    /// <param name="expirations">Entries removed because they expired, <see cref="CacheRemovalReason.Expired"/>.</param>
    public LruCacheStatistics(long hits, long misses, long evictions, long expirations)
    {
        Hits = hits;
        Misses = misses;
        Evictions = evictions;
        Expirations = expirations;
    }

    /// <summary>Reads (including the read part of <c>GetOrAdd</c>) that found a live entry.</summary>
    public long Hits { get; }

    /// <summary>Reads that found no entry, or an entry that had expired.</summary>
    public long Misses { get; }

    /// <summary>Entries removed because the cache was full (<see cref="CacheRemovalReason.Evicted"/>).</summary>
    public long Evictions { get; }

    /// <summary>Entries removed because their time to live had passed (<see cref="CacheRemovalReason.Expired"/>).</summary>
    public long Expirations { get; }

    /// <summary>Hits divided by reads, or 0 when there has been no read.</summary>
    public double HitRatio => Hits + Misses == 0 ? 0 : (double)Hits / (Hits + Misses);

    /// <inheritdoc/>
    public bool Equals(LruCacheStatistics other) =>
        Hits == other.Hits && Misses == other.Misses && Evictions == other.Evictions && Expirations == other.Expirations;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is LruCacheStatistics other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Hits, Misses, Evictions, Expirations);

    /// <inheritdoc/>
    public override string ToString() =>
        $"Hits = {Hits}, Misses = {Misses}, Evictions = {Evictions}, Expirations = {Expirations}";

    /// <summary>Compares two snapshots counter by counter.</summary>
    /// <param name="left">The first snapshot.</param>
    /// <param name="right">The second snapshot.</param>
    public static bool operator ==(LruCacheStatistics left, LruCacheStatistics right) => left.Equals(right);

    /// <summary>Compares two snapshots counter by counter.</summary>
    /// <param name="left">The first snapshot.</param>
    /// <param name="right">The second snapshot.</param>
    public static bool operator !=(LruCacheStatistics left, LruCacheStatistics right) => !left.Equals(right);
}
