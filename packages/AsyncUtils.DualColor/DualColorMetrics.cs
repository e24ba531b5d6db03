using System.Diagnostics.Metrics;

namespace AsyncUtils;

/// <summary>What the observable instruments read from a live queue, whatever its item types.</summary>
internal interface IDualColorMetricsSource
{
    /// <summary>The queue's name, or <see langword="null"/> for none.</summary>
    public string? Name { get; }

    /// <summary>Items in the queue now.</summary>
    public long DepthForMetrics { get; }

    /// <summary>Putters waiting for room now.</summary>
    public long WaitingPuttersForMetrics { get; }

    /// <summary>Takers waiting for an item now.</summary>
    public long WaitingTakersForMetrics { get; }
}

/// <summary>
/// The <c>AsyncUtils.DualColor</c> meter, created when the first queue is (not at assembly load).
/// Depth and waiters are observable: read from each live queue only when a listener collects.
/// Wait durations are measured only while a listener is subscribed, recorded by the waiting
/// caller outside the queue's lock, and a listener that throws is ignored.
/// </summary>
internal static class DualColorMetrics
{
    internal const string MeterName = "AsyncUtils.DualColor";
    internal const string NameTag = "asyncutils.queue.name";
    internal const string OperationTag = "asyncutils.queue.operation";
    internal const string ResultTag = "asyncutils.queue.result";

    internal static readonly Meter Meter = new(MeterName);

    internal static readonly InstanceRegistry<IDualColorMetricsSource> Instances = new();

    internal static readonly ObservableUpDownCounter<long> Depth = Meter.CreateObservableUpDownCounter(
        "asyncutils.queue.depth",
        static () => Instances.Observe(static q => q.DepthForMetrics, static q => q.Name, NameTag),
        "{item}",
        "Items in the queue now (not counting the items of waiting putters).");

    internal static readonly ObservableUpDownCounter<long> Waiters = Meter.CreateObservableUpDownCounter(
        "asyncutils.queue.waiters",
        ObserveWaiters,
        "{waiter}",
        "Putters waiting for room and takers waiting for an item now, blocking and async, by operation.");

    internal static readonly Histogram<double> WaitDuration = Meter.CreateHistogram<double>(
        "asyncutils.queue.wait.duration",
        "s",
        "How long a put or take that had to wait waited, until it was served, timed out, cancelled or ended by completion.");

    /// <summary>Records one wait. Called by the waiting caller, outside the queue's lock; a listener that throws is ignored.</summary>
    internal static void RecordWait(WaitTiming timing, long startTimestamp, WaitStatus status)
    {
        double seconds = timing.Time.GetElapsedTime(startTimestamp).TotalSeconds;
        var operation = new KeyValuePair<string, object?>(OperationTag, timing.Operation);
        var result = new KeyValuePair<string, object?>(ResultTag, status switch
        {
            WaitStatus.Granted => "granted",
            WaitStatus.TimedOut => "timed_out",
            WaitStatus.Canceled => "canceled",
            _ => "completed",
        });
        try
        {
            if (timing.Name is null)
            {
                WaitDuration.Record(seconds, operation, result);
            }
            else
            {
                WaitDuration.Record(seconds, operation, result, new KeyValuePair<string, object?>(NameTag, timing.Name));
            }
        }
#pragma warning disable CA1031 // An observer must not break the queue; documented on the types.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private static IEnumerable<Measurement<long>> ObserveWaiters()
    {
        foreach (IDualColorMetricsSource queue in Instances.Snapshot())
        {
            var put = new KeyValuePair<string, object?>(OperationTag, "put");
            var take = new KeyValuePair<string, object?>(OperationTag, "take");
            if (queue.Name is { } name)
            {
                var tag = new KeyValuePair<string, object?>(NameTag, name);
                yield return new Measurement<long>(queue.WaitingPuttersForMetrics, put, tag);
                yield return new Measurement<long>(queue.WaitingTakersForMetrics, take, tag);
            }
            else
            {
                yield return new Measurement<long>(queue.WaitingPuttersForMetrics, put);
                yield return new Measurement<long>(queue.WaitingTakersForMetrics, take);
            }
        }
    }
}

/// <summary>What a waiter list's waits are recorded with: the clock, the operation and the queue's name.</summary>
internal sealed class WaitTiming(TimeProvider time, string operation, string? name)
{
    internal TimeProvider Time { get; } = time;

    internal string Operation { get; } = operation;

    internal string? Name { get; } = name;
}
