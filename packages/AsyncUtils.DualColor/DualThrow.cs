namespace AsyncUtils.DualColor;

/// <summary>Argument checks and exception factories shared by the queues.</summary>
internal static class DualThrow
{
    internal static void ValidateSettings(int? capacity, QueueFullMode fullMode, string paramName)
    {
        if (capacity is < 1)
        {
            throw new ArgumentOutOfRangeException(paramName, capacity, "The capacity must be at least 1, or null for an unbounded queue.");
        }

        if (fullMode is < QueueFullMode.Wait or > QueueFullMode.Reject)
        {
            throw new ArgumentOutOfRangeException(paramName, fullMode, "Unknown QueueFullMode.");
        }

        if (capacity is null && fullMode != QueueFullMode.Wait)
        {
            throw new ArgumentException($"FullMode {fullMode} needs a Capacity: an unbounded queue is never full.", paramName);
        }
    }

    internal static void ValidateTimeout(TimeSpan timeout)
    {
        long ms = (long)timeout.TotalMilliseconds;
        if ((ms < 0 && timeout != Timeout.InfiniteTimeSpan) || ms > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The timeout must be zero or more (at most int.MaxValue milliseconds), or Timeout.InfiniteTimeSpan.");
        }
    }

    internal static QueueCompletedException CompletedForPut(Exception? error) =>
        new(error is null
            ? "The queue has been completed: no more items can be put."
            : "The queue has been completed with an error (see InnerException): no more items can be put.", error);

    internal static QueueCompletedException CompletedForTake(Exception? error) =>
        new(error is null
            ? "The queue has been completed and has no items left."
            : "The queue has been completed with an error (see InnerException) and has no items left.", error);

    internal static QueueFullException Full() => new("The queue is full and its FullMode is Reject.");
}
