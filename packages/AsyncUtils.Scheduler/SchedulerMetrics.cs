using System.Diagnostics.Metrics;

namespace AsyncUtils;

/// <summary>What the scheduler's observable instruments read from a live scheduler, whatever its payload type.</summary>
internal interface ISchedulerMetricsSource
{
    /// <summary>The scheduler's name, or <see langword="null"/> for none.</summary>
    public string? Name { get; }

    /// <summary>The payloads pending now.</summary>
    public long PendingForMetrics { get; }
}

/// <summary>
/// The <c>AsyncUtils.Scheduler</c> meter, created when the first scheduler is (not at assembly
/// load). <c>asyncutils.scheduler.pending</c> reads each live scheduler's count only when a
/// listener collects; lateness is recorded only while a listener is subscribed to it, outside the
/// scheduler's lock, and a listener that throws is ignored.
/// </summary>
internal static class SchedulerMetrics
{
    internal const string MeterName = "AsyncUtils.Scheduler";
    internal const string NameTag = "asyncutils.scheduler.name";

    internal static readonly Meter Meter = new(MeterName);

    internal static readonly InstanceRegistry<ISchedulerMetricsSource> Instances = new();

    internal static readonly ObservableUpDownCounter<long> Pending = Meter.CreateObservableUpDownCounter(
        "asyncutils.scheduler.pending",
        static () => Instances.Observe(static s => s.PendingForMetrics, static s => s.Name, NameTag),
        "{payload}",
        "Payloads scheduled and not yet delivered or cancelled, due or not.");

    internal static readonly Histogram<double> Lateness = Meter.CreateHistogram<double>(
        "asyncutils.scheduler.lateness",
        "s",
        "How long after its due time each payload was handed to a consumer (timer granularity, plus any time it waited for a consumer).");

    /// <summary>Records one delivery's lateness. Called outside the scheduler's lock; a listener that throws is ignored.</summary>
    internal static void RecordLateness(long lateTicks, string? name)
    {
        double seconds = Math.Max(0, lateTicks) / (double)TimeSpan.TicksPerSecond;
        try
        {
            if (name is null)
            {
                Lateness.Record(seconds);
            }
            else
            {
                Lateness.Record(seconds, new KeyValuePair<string, object?>(NameTag, name));
            }
        }
#pragma warning disable CA1031 // An observer must not break delivery; documented on the class.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }
}
