using System.Diagnostics.Metrics;

namespace AsyncUtils;

/// <summary>
/// The <c>AsyncUtils.PrioritySemaphore</c> meter, created when the first semaphore is (not at
/// assembly load). Waiters and free permits are observable: read, when a listener collects, from
/// what each live semaphore keeps anyway. Wait durations are recorded only for callers that
/// queued, only while a listener is subscribed, on the caller's thread and outside the semaphore's
/// lock, because a <see cref="MeterListener"/> runs its callbacks inline.
/// </summary>
internal static class PrioritySemaphoreMetrics
{
    internal const string MeterName = "AsyncUtils.PrioritySemaphore";
    internal const string NameTag = "asyncutils.semaphore.name";
    internal const string ResultTag = "asyncutils.semaphore.result";

    private static readonly InstanceRegistry<PrioritySemaphore> Instances = new();

    internal static readonly Meter Meter = new(MeterName);

    internal static readonly ObservableUpDownCounter<long> Waiters = Meter.CreateObservableUpDownCounter(
        "asyncutils.semaphore.waiters", static () => Instances.Observe(static s => s.WaitingCount, static s => s.Name, NameTag), "{waiter}",
        "Callers waiting now.");

    internal static readonly ObservableUpDownCounter<long> Available = Meter.CreateObservableUpDownCounter(
        "asyncutils.semaphore.permits.available", static () => Instances.Observe(static s => s.CurrentCount, static s => s.Name, NameTag), "{permit}",
        "Permits free now.");

    internal static readonly Histogram<double> WaitDuration = Meter.CreateHistogram<double>(
        "asyncutils.semaphore.wait.duration", "s",
        "How long a caller that queued waited, by outcome (granted, canceled, timed_out).");

    /// <summary>Makes a new semaphore visible to the instruments: one small allocation, when it is created.</summary>
    internal static void Register(PrioritySemaphore semaphore) => Instances.Add(semaphore);
}
