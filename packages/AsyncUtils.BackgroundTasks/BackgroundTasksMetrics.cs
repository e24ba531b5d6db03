using System.Diagnostics.Metrics;

namespace AsyncUtils;

/// <summary>
/// The <c>AsyncUtils.BackgroundTasks</c> meter, created when the first executor or task group is
/// (not at assembly load). The in-flight counts are observable: read from each live instance only
/// when a listener collects. Faults are counted only while a listener is subscribed, outside the
/// primitives' locks, and a listener that throws is ignored.
/// </summary>
internal static class BackgroundTasksMetrics
{
    internal const string MeterName = "AsyncUtils.BackgroundTasks";
    internal const string ExecutorNameTag = "asyncutils.executor.name";
    internal const string TaskGroupNameTag = "asyncutils.task_group.name";

    internal static readonly Meter Meter = new(MeterName);

    internal static readonly InstanceRegistry<CurrentContextExecutor> Executors = new();

    internal static readonly InstanceRegistry<TaskGroup> TaskGroups = new();

    internal static readonly ObservableUpDownCounter<long> ExecutorInFlight = Meter.CreateObservableUpDownCounter(
        "asyncutils.executor.in_flight",
        static () => Executors.Observe(static e => e.RunningForMetrics, static e => e.Name, ExecutorNameTag),
        "{call}",
        "Submitted calls and Map lanes holding one of the executor's concurrency slots now.");

    internal static readonly ObservableUpDownCounter<long> ExecutorWaiting = Meter.CreateObservableUpDownCounter(
        "asyncutils.executor.waiting",
        static () => Executors.Observe(static e => e.WaitingForMetrics, static e => e.Name, ExecutorNameTag),
        "{call}",
        "Submitted calls and Map lanes waiting for a concurrency slot now.");

    internal static readonly Counter<long> ExecutorFaults = Meter.CreateCounter<long>(
        "asyncutils.executor.faults",
        "{call}",
        "Submitted calls and Map items that failed with an exception other than a cancellation.");

    internal static readonly ObservableUpDownCounter<long> TaskGroupInFlight = Meter.CreateObservableUpDownCounter(
        "asyncutils.task_group.in_flight",
        static () => TaskGroups.Observe(static g => g.Count, static g => g.Name, TaskGroupNameTag),
        "{task}",
        "Tasks of the group that have not finished.");

    internal static readonly Counter<long> TaskGroupFaults = Meter.CreateCounter<long>(
        "asyncutils.task_group.faults",
        "{fault}",
        "Exceptions added to the group's Faults (failed tasks, foreign cancellations, cancellation callbacks that threw).");

    /// <summary>Counts <paramref name="count"/> faults; a listener that throws is ignored.</summary>
    internal static void AddFaults(Counter<long> faults, long count, string nameTag, string? name)
    {
        if (count == 0 || !faults.Enabled)
        {
            return;
        }

        try
        {
            if (name is null)
            {
                faults.Add(count);
            }
            else
            {
                faults.Add(count, new KeyValuePair<string, object?>(nameTag, name));
            }
        }
#pragma warning disable CA1031 // An observer must not break the primitive; documented on the types.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }
}
