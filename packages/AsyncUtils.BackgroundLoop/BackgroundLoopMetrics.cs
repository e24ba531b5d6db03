using System.Diagnostics.Metrics;

namespace AsyncUtils;

/// <summary>
/// The <c>AsyncUtils.BackgroundLoop</c> meter, created when the first loop is (not at assembly
/// load). The counts are observable: read from each live loop only when a listener collects. The
/// queue depth is kept only while a listener is subscribed to it (work queued before that is not
/// counted), so a loop nobody watches pays nothing per item. Faults are counted only while a
/// listener is subscribed, never inside the loop's lock, and a listener that throws is ignored.
/// </summary>
internal static class BackgroundLoopMetrics
{
    internal const string MeterName = "AsyncUtils.BackgroundLoop";
    internal const string NameTag = "asyncutils.loop.name";

    internal static readonly Meter Meter = new(MeterName);

    internal static readonly InstanceRegistry<ThreadedLoop> Instances = new();

    internal static readonly ObservableUpDownCounter<long> QueueDepth = Meter.CreateObservableUpDownCounter(
        "asyncutils.loop.queue.depth",
        static () => Instances.Observe(static l => l.QueuedForMetrics, static l => l.MetricsName, NameTag),
        "{work}",
        "Scheduled and posted functions waiting for the loop thread to start them (counted while a listener is subscribed).");

    internal static readonly ObservableUpDownCounter<long> Outstanding = Meter.CreateObservableUpDownCounter(
        "asyncutils.loop.outstanding",
        static () => Instances.Observe(static l => l.OutstandingCount, static l => l.MetricsName, NameTag),
        "{work}",
        "Scheduled and posted functions not finished yet, queued or running (OutstandingCount).");

    internal static readonly Counter<long> Faults = Meter.CreateCounter<long>(
        "asyncutils.loop.faults",
        "{fault}",
        "Exceptions of posted work and async void methods on the loop, raised through UnhandledException or kept for disposal.");

    /// <summary>Counts one unhandled fault; a listener that throws is ignored.</summary>
    internal static void AddFault(string? name)
    {
        if (!Faults.Enabled)
        {
            return;
        }

        try
        {
            if (name is null)
            {
                Faults.Add(1);
            }
            else
            {
                Faults.Add(1, new KeyValuePair<string, object?>(NameTag, name));
            }
        }
#pragma warning disable CA1031 // An observer must not break the loop; documented on the type.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }
}
