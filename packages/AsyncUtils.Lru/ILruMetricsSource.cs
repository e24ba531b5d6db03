namespace AsyncUtils;

/// <summary>What <see cref="LruMetrics"/> reads from a cache, without its type arguments.</summary>
internal interface ILruMetricsSource
{
    /// <summary>The name given in the options, or <see langword="null"/>.</summary>
    public string? Name { get; }

    /// <summary>The entries stored now.</summary>
    public int Count { get; }

    /// <summary>The most entries the cache holds.</summary>
    public int Capacity { get; }

    /// <summary>
    /// Reads the counters the cache keeps: evictions and expirations always; hits and misses only
    /// when it tracks statistics (the return value; they are zero otherwise).
    /// </summary>
    public bool ReadCounters(out long hits, out long misses, out long evictions, out long expirations);
}
