using Microsoft.Coyote.Specifications;

namespace AsyncUtils.Coyote.Tests;

/// <summary>
/// Assertions for use inside a Coyote scenario. NUnit's own assertions record a failure in the
/// current test's result even when Coyote catches them, so scenarios use these instead: a false
/// condition is reported to Coyote as a bug of the explored interleaving. A wait that never ends
/// needs no assertion: Coyote reports it as a deadlock.
/// </summary>
internal static class Check
{
    public static void That(bool condition, string message) => Specification.Assert(condition, message);

    public static void Equal<T>(T expected, T actual, string what) =>
        Specification.Assert(EqualityComparer<T>.Default.Equals(expected, actual), "{0}: expected {1} but was {2}", what, expected, actual);

    /// <summary>
    /// Waits, at Coyote scheduling points, until <paramref name="task"/> has completed, and
    /// reports it as stranded if it has not within a generous bound. For tasks completed by a
    /// continuation that runs outside Coyote's control (the thread pool continuation of a
    /// ValueTask source, a Task.AsTask wrapper): awaiting such a task directly makes Coyote 1.7
    /// report a deadlock the moment that continuation posts back to it.
    /// </summary>
    public static async Task Settled(Task task, string what)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!task.IsCompleted && clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(1).ConfigureAwait(false);
        }

        Specification.Assert(task.IsCompleted, "{0} never completed: stranded", what);
    }

    /// <summary>Awaits <paramref name="task"/>; true when it succeeded, false when it was cancelled.</summary>
    public static async Task<bool> SucceedsOrIsCancelled(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
