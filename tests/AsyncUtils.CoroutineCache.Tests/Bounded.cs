namespace AsyncUtils.Tests;

/// <summary>Every wait in these tests is bounded, so a bug shows up as a failure, not a hang.</summary>
internal static class Bounded
{
    internal static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    internal static Task<T> Within<T>(this ValueTask<T> task) => task.AsTask().WaitAsync(Limit);

    internal static Task<T> Within<T>(this Task<T> task) => task.WaitAsync(Limit);

    internal static Task Within(this Task task) => task.WaitAsync(Limit);

    /// <summary>The result of a task that must already have completed successfully (a hit, or a synchronous call).</summary>
    internal static T Completed<T>(this ValueTask<T> task) =>
        task.IsCompletedSuccessfully ? task.Result : throw new AssertionException("expected a result completed synchronously");
}
