using System.Diagnostics.Metrics;

namespace AsyncUtils;

/// <summary>
/// The <c>AsyncUtils.Lru</c> meter, created when the first cache is (not at assembly load). Every
/// instrument is observable: it reads, when a listener collects, the counters each live cache keeps
/// anyway, so a cache pays one weak registration when it is made and nothing on any read or write.
/// </summary>
internal static class LruMetrics
{
    internal const string MeterName = "AsyncUtils.Lru";
    internal const string NameTag = "asyncutils.cache.name";
    internal const string ResultTag = "asyncutils.cache.result";
    internal const string ReasonTag = "asyncutils.cache.eviction.reason";

    private static readonly InstanceRegistry<ILruMetricsSource> Instances = new();

    internal static readonly Meter Meter = new(MeterName);

    internal static readonly ObservableCounter<long> Requests = Meter.CreateObservableCounter(
        "asyncutils.cache.requests", ObserveRequests, "{request}",
        "Reads that found a live entry (result hit) or did not (result miss); only caches created with TrackStatistics.");

    internal static readonly ObservableCounter<long> Evictions = Meter.CreateObservableCounter(
        "asyncutils.cache.evictions", ObserveEvictions, "{entry}",
        "Entries removed because the cache was full (reason capacity) or their time to live had passed (reason expired).");

    internal static readonly ObservableUpDownCounter<long> Size = Meter.CreateObservableUpDownCounter(
        "asyncutils.cache.size", static () => Instances.Observe(static c => c.Count, static c => c.Name, NameTag), "{entry}",
        "Entries stored now.");

    internal static readonly ObservableUpDownCounter<long> Capacity = Meter.CreateObservableUpDownCounter(
        "asyncutils.cache.capacity", static () => Instances.Observe(static c => c.Capacity, static c => c.Name, NameTag), "{entry}",
        "The most entries the cache holds.");

    /// <summary>Makes a new cache visible to the instruments: one small allocation, when it is created.</summary>
    internal static void Register(ILruMetricsSource cache) => Instances.Add(cache);

    private static List<Measurement<long>> ObserveRequests()
    {
        var measurements = new List<Measurement<long>>();
        foreach (ILruMetricsSource cache in Instances.Snapshot())
        {
            if (cache.ReadCounters(out long hits, out long misses, out _, out _))
            {
                measurements.Add(Measure(hits, cache.Name, ResultTag, "hit"));
                measurements.Add(Measure(misses, cache.Name, ResultTag, "miss"));
            }
        }

        return measurements;
    }

    private static List<Measurement<long>> ObserveEvictions()
    {
        var measurements = new List<Measurement<long>>();
        foreach (ILruMetricsSource cache in Instances.Snapshot())
        {
            cache.ReadCounters(out _, out _, out long evictions, out long expirations);
            measurements.Add(Measure(evictions, cache.Name, ReasonTag, "capacity"));
            measurements.Add(Measure(expirations, cache.Name, ReasonTag, "expired"));
        }

        return measurements;
    }

    private static Measurement<long> Measure(long value, string? name, string tag, string tagValue) => name is null
        ? new Measurement<long>(value, new KeyValuePair<string, object?>(tag, tagValue))
        : new Measurement<long>(value, new KeyValuePair<string, object?>(tag, tagValue), new KeyValuePair<string, object?>(NameTag, name));
}
