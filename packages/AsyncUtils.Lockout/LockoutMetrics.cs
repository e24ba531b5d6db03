using System.Diagnostics.Metrics;

namespace AsyncUtils;

/// <summary>
/// The <c>AsyncUtils.Lockout</c> meter, created when the first lockout is (not at assembly load).
/// Every instrument is observable: it reads, when a listener collects, what each live lockout keeps
/// anyway, so entering pays nothing for it.
/// </summary>
internal static class LockoutMetrics
{
    internal const string MeterName = "AsyncUtils.Lockout";
    internal const string NameTag = "asyncutils.lockout.name";

    private static readonly InstanceRegistry<Lockout> Instances = new();

    internal static readonly Meter Meter = new(MeterName);

    internal static readonly ObservableUpDownCounter<long> Locked = Meter.CreateObservableUpDownCounter(
        "asyncutils.lockout.locked", static () => Instances.Observe(static l => l.IsLocked ? 1 : 0, static l => l.MetricsName, NameTag), "{lockout}",
        "1 while the lockout is active, 0 otherwise.");

    internal static readonly ObservableCounter<long> Waits = Meter.CreateObservableCounter(
        "asyncutils.lockout.waits", static () => Instances.Observe(static l => l.WaitsStarted, static l => l.MetricsName, NameTag), "{wait}",
        "Calls to EnterAsync that found the lockout active and waited.");

    internal static readonly ObservableUpDownCounter<long> Waiters = Meter.CreateObservableUpDownCounter(
        "asyncutils.lockout.waiters", static () => Instances.Observe(static l => l.WaitingCount, static l => l.MetricsName, NameTag), "{waiter}",
        "Callers waiting now.");

    /// <summary>Makes a new lockout visible to the instruments: one small allocation, when it is created.</summary>
    internal static void Register(Lockout lockout) => Instances.Add(lockout);
}
