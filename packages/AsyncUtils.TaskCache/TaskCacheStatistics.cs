using System.Runtime.InteropServices;

namespace AsyncUtils;

/// <summary>
/// A snapshot of a <see cref="TaskCache{TKey, TResult}"/>'s counters, taken by
/// <see cref="TaskCache{TKey, TResult}.GetStatistics"/>. Counts are cumulative from the cache's
/// creation and are not reset by <see cref="TaskCache{TKey, TResult}.Clear"/>. Under concurrent use
/// the snapshot is not atomic across counters.
/// </summary>
[StructLayout(LayoutKind.Auto)]
public readonly struct TaskCacheStatistics : IEquatable<TaskCacheStatistics>
{
    /// <summary>Creates a snapshot with the given counters.</summary>
    /// <param name="hits">Requests answered by a completed entry.</param>
    /// <param name="misses">Requests that started a call.</param>
    /// <param name="coalesced">Requests that joined a call already in flight.</param>
    /// <param name="inFlight">Calls started and not yet finished.</param>
    public TaskCacheStatistics(long hits, long misses, long coalesced, long inFlight)
    {
        Hits = hits;
        Misses = misses;
        Coalesced = coalesced;
        InFlight = inFlight;
    }

    /// <summary>Requests answered by a completed entry (a result, or a cached failure).</summary>
    public long Hits { get; }

    /// <summary>Requests that found no live entry and started a call.</summary>
    public long Misses { get; }

    /// <summary>Requests that found a call in flight for their key and shared it instead of starting one.</summary>
    public long Coalesced { get; }

    /// <summary>
    /// Calls whose function has started and not yet finished. A call abandoned by a timeout counts
    /// here until the function really finishes, so a function that ignores its token shows up.
    /// </summary>
    public long InFlight { get; }

    /// <inheritdoc/>
    public bool Equals(TaskCacheStatistics other) =>
        Hits == other.Hits && Misses == other.Misses && Coalesced == other.Coalesced && InFlight == other.InFlight;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is TaskCacheStatistics other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Hits, Misses, Coalesced, InFlight);

    /// <inheritdoc/>
    public override string ToString() => $"Hits = {Hits}, Misses = {Misses}, Coalesced = {Coalesced}, InFlight = {InFlight}";

    /// <summary>Compares two snapshots counter by counter.</summary>
    /// <param name="left">The first snapshot.</param>
    /// <param name="right">The second snapshot.</param>
    public static bool operator ==(TaskCacheStatistics left, TaskCacheStatistics right) => left.Equals(right);

    /// <summary>Compares two snapshots counter by counter.</summary>
    /// <param name="left">The first snapshot.</param>
    /// <param name="right">The second snapshot.</param>
    public static bool operator !=(TaskCacheStatistics left, TaskCacheStatistics right) => !left.Equals(right);
}
