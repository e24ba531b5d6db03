using System.Diagnostics.Metrics;

namespace AsyncUtils.Shared.Caching;

/// <summary>
/// The instruments of an async cache package's meter (<c>AsyncUtils.TaskCache</c>,
/// <c>AsyncUtils.CoroutineCache</c>), the same in both. Every instrument is observable: it reads,
/// when a listener collects, the counters each live cache keeps anyway, so a cache pays one weak
/// registration when it is made and nothing on a request.
/// </summary>
internal sealed class CacheInstruments
{
    internal const string NameTag = "asyncutils.cache.name";
    internal const string ResultTag = "asyncutils.cache.result";
    internal const string ReasonTag = "asyncutils.cache.eviction.reason";

    private readonly InstanceRegistry<ICacheMetricsSource> _instances = new();

    internal CacheInstruments(string meterName)
    {
        Meter = new Meter(meterName);
        Meter.CreateObservableCounter(
            "asyncutils.cache.requests", ObserveRequests, "{request}",
            "Requests answered by a completed entry (result hit) or that started a call (result miss); only caches created with TrackStatistics.");
        Meter.CreateObservableCounter(
            "asyncutils.cache.calls.coalesced", () => ObserveCounter(static (_, _, coalesced, _) => coalesced), "{request}",
            "Requests that joined a call already in flight instead of starting one; only caches created with TrackStatistics.");
        Meter.CreateObservableUpDownCounter(
            "asyncutils.cache.calls.in_flight", () => ObserveCounter(static (_, _, _, inFlight) => inFlight), "{call}",
            "Calls started and not finished; only caches created with TrackStatistics.");
        Meter.CreateObservableCounter(
            "asyncutils.cache.evictions", ObserveEvictions, "{entry}",
            "Entries evicted to respect the size bound (reason capacity); only bounded caches.");
        Meter.CreateObservableUpDownCounter(
            "asyncutils.cache.size", () => _instances.Observe(static c => c.Count, static c => c.MetricsName, NameTag), "{entry}",
            "Entries stored now: calls in flight, results, and expired entries not yet removed.");
    }

    internal Meter Meter { get; }

    /// <summary>Makes a new cache visible to the instruments: one small allocation, when it is created.</summary>
    internal void Register(ICacheMetricsSource cache) => _instances.Add(cache);

    private List<Measurement<long>> ObserveRequests()
    {
        var measurements = new List<Measurement<long>>();
        foreach (ICacheMetricsSource cache in _instances.Snapshot())
        {
            if (cache.ReadCounters(out long hits, out long misses, out _, out _))
            {
                measurements.Add(Measure(hits, cache.MetricsName, ResultTag, "hit"));
                measurements.Add(Measure(misses, cache.MetricsName, ResultTag, "miss"));
            }
        }

        return measurements;
    }

    private List<Measurement<long>> ObserveCounter(Func<long, long, long, long, long> pick)
    {
        var measurements = new List<Measurement<long>>();
        foreach (ICacheMetricsSource cache in _instances.Snapshot())
        {
            if (cache.ReadCounters(out long hits, out long misses, out long coalesced, out long inFlight))
            {
                long value = pick(hits, misses, coalesced, inFlight);
                string? name = cache.MetricsName;
                measurements.Add(name is null
                    ? new Measurement<long>(value)
                    : new Measurement<long>(value, new KeyValuePair<string, object?>(NameTag, name)));
            }
        }

        return measurements;
    }

    private List<Measurement<long>> ObserveEvictions()
    {
        var measurements = new List<Measurement<long>>();
        foreach (ICacheMetricsSource cache in _instances.Snapshot())
        {
            long evictions = cache.Evictions;
            if (evictions >= 0)
            {
                measurements.Add(Measure(evictions, cache.MetricsName, ReasonTag, "capacity"));
            }
        }

        return measurements;
    }

    private static Measurement<long> Measure(long value, string? name, string tag, string tagValue) => name is null
        ? new Measurement<long>(value, new KeyValuePair<string, object?>(tag, tagValue))
        : new Measurement<long>(value, new KeyValuePair<string, object?>(tag, tagValue), new KeyValuePair<string, object?>(NameTag, name));
}
