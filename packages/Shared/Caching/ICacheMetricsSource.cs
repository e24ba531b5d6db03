namespace AsyncUtils.Shared.Caching;

/// <summary>What <see cref="CacheInstruments"/> reads from an async cache, without its type arguments.</summary>
internal interface ICacheMetricsSource
{
    /// <summary>The name given in the options, or <see langword="null"/>.</summary>
    public string? MetricsName { get; }

    /// <summary>The entries stored now.</summary>
    public int Count { get; }

    /// <summary>The entries evicted to respect the size bound, or -1 when the cache has none.</summary>
    public long Evictions { get; }

    /// <summary>
    /// The opt-in counters: <see langword="false"/> (and zeros) unless the cache was created with
    /// <c>TrackStatistics</c>.
    /// </summary>
    public bool ReadCounters(out long hits, out long misses, out long coalesced, out long inFlight);
}
