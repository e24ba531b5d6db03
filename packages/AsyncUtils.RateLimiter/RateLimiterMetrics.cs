using System.Diagnostics.Metrics;

namespace AsyncUtils;

/// <summary>
/// The <c>AsyncUtils.RateLimiter</c> meter, created when the first limiter is (not at assembly
/// load). Leases and the queue are observable: read, when a listener collects, from the counters
/// each live limiter keeps anyway, so a grant costs nothing more. Wait durations are recorded only
/// for requests that queued, only while a listener is subscribed, and outside the limiter's lock,
/// because a <see cref="MeterListener"/> runs its callbacks inline.
/// </summary>
internal static class RateLimiterMetrics
{
    internal const string MeterName = "AsyncUtils.RateLimiter";
    internal const string NameTag = "asyncutils.rate_limiter.name";
    internal const string ResultTag = "asyncutils.rate_limiter.result";

    private static readonly InstanceRegistry<SlidingLogRateLimiter> Instances = new();

    internal static readonly Meter Meter = new(MeterName);

    internal static readonly ObservableCounter<long> Leases = Meter.CreateObservableCounter(
        "asyncutils.rate_limiter.leases", ObserveLeases, "{lease}",
        "Leases handed out, granted (result granted) or failed (result rejected).");

    internal static readonly ObservableUpDownCounter<long> QueueLength = Meter.CreateObservableUpDownCounter(
        "asyncutils.rate_limiter.queue.length", ObserveQueue, "{permit}",
        "Permits waiting in the queue (a zero-permit request counts one).");

    internal static readonly Histogram<double> WaitDuration = Meter.CreateHistogram<double>(
        "asyncutils.rate_limiter.wait.duration", "s",
        "How long a queued request waited, by outcome (granted, rejected, canceled).");

    /// <summary>Makes a new limiter visible to the instruments: one small allocation, when it is created.</summary>
    internal static void Register(SlidingLogRateLimiter limiter) => Instances.Add(limiter);

    private static List<Measurement<long>> ObserveLeases()
    {
        var measurements = new List<Measurement<long>>();
        foreach (SlidingLogRateLimiter limiter in Instances.Snapshot())
        {
            if (limiter.TryReadCounters(out long granted, out long rejected, out _))
            {
                measurements.Add(Measure(granted, limiter.MetricsName, "granted"));
                measurements.Add(Measure(rejected, limiter.MetricsName, "rejected"));
            }
        }

        return measurements;
    }

    private static List<Measurement<long>> ObserveQueue()
    {
        var measurements = new List<Measurement<long>>();
        foreach (SlidingLogRateLimiter limiter in Instances.Snapshot())
        {
            if (limiter.TryReadCounters(out _, out _, out long queued))
            {
                string? name = limiter.MetricsName;
                measurements.Add(name is null
                    ? new Measurement<long>(queued)
                    : new Measurement<long>(queued, new KeyValuePair<string, object?>(NameTag, name)));
            }
        }

        return measurements;
    }

    private static Measurement<long> Measure(long value, string? name, string result) => name is null
        ? new Measurement<long>(value, new KeyValuePair<string, object?>(ResultTag, result))
        : new Measurement<long>(value, new KeyValuePair<string, object?>(ResultTag, result), new KeyValuePair<string, object?>(NameTag, name));
}
