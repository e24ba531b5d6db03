using System.Diagnostics.Metrics;

namespace AsyncUtils;

/// <summary>What the observable instruments read from a live waterfall, whatever its item type.</summary>
internal interface IWaterfallMetricsSource
{
    /// <summary>The waterfall's name, or <see langword="null"/> for none.</summary>
    public string? Name { get; }

    /// <summary>Items put and not yet handed to the callback.</summary>
    public long QueueDepthForMetrics { get; }
}

/// <summary>
/// The <c>AsyncUtils.Waterfall</c> meter, created when the first waterfall is (not at assembly
/// load). Measurements are recorded outside the waterfall's lock, because a
/// <see cref="MeterListener"/> runs its callbacks inline.
/// </summary>
internal static class WaterfallMetrics
{
    internal const string MeterName = "AsyncUtils.Waterfall";
    internal const string ReasonTag = "asyncutils.waterfall.flush_reason";
    internal const string NameTag = "asyncutils.waterfall.name";

    internal static readonly Meter Meter = new(MeterName);

    internal static readonly Counter<long> Batches = Meter.CreateCounter<long>(
        "asyncutils.waterfall.batches", "{batch}", "Batches handed to the callback, tagged with the flush reason (count, time, stop).");

    internal static readonly Histogram<int> BatchSize = Meter.CreateHistogram<int>(
        "asyncutils.waterfall.batch.size", "{item}", "Items per batch handed to the callback, tagged with the flush reason.");

    internal static readonly Counter<long> Failures = Meter.CreateCounter<long>(
        "asyncutils.waterfall.callback.failures", "{batch}", "Callback calls that threw.");

    internal static readonly Counter<long> Items = Meter.CreateCounter<long>(
        "asyncutils.waterfall.items", "{item}", "Items handed to the callback, tagged with the flush reason of their batch.");

    internal static readonly InstanceRegistry<IWaterfallMetricsSource> Instances = new();

    internal static readonly ObservableUpDownCounter<long> QueueDepth = Meter.CreateObservableUpDownCounter(
        "asyncutils.waterfall.queue.depth",
        static () => Instances.Observe(static w => w.QueueDepthForMetrics, static w => w.Name, NameTag),
        "{item}",
        "Items put and not yet handed to the callback: the batch being collected and the batches waiting for a callback slot.");

    internal static string ReasonName(WaterfallFlushReason reason) => reason switch
    {
        WaterfallFlushReason.Count => "count",
        WaterfallFlushReason.Time => "time",
        _ => "stop",
    };
}
