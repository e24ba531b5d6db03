using System.Diagnostics.CodeAnalysis;
using System.Runtime.ExceptionServices;

namespace AsyncUtils;

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

    /// <summary>
    /// What a put on a completed queue fails with: the completion error itself when it is an
    /// <see cref="OperationCanceledException"/> (the producer stopped because it was cancelled;
    /// a channel reports it so too), else a <see cref="QueueCompletedException"/> wrapping the error.
    /// </summary>
    internal static Exception CompletedForPut(Exception? error) =>
        error is OperationCanceledException ? error
        : new QueueCompletedException(error is null
            ? "The queue has been completed: no more items can be put."
            : "The queue has been completed with an error (see InnerException): no more items can be put.", error);

    /// <summary>What a take on a completed, empty queue fails with; see <see cref="CompletedForPut"/>.</summary>
    internal static Exception CompletedForTake(Exception? error) =>
        error is OperationCanceledException ? error
        : new QueueCompletedException(error is null
            ? "The queue has been completed and has no items left."
            : "The queue has been completed with an error (see InnerException) and has no items left.", error);

    [DoesNotReturn]
    internal static void ThrowCompletedForPut(Exception? error) => Throw(CompletedForPut(error));

    [DoesNotReturn]
    internal static void ThrowCompletedForTake(Exception? error) => Throw(CompletedForTake(error));

    /// <summary>
    /// A failed operation: Canceled, carrying the exception itself, when it is an
    /// <see cref="OperationCanceledException"/> (as a channel's operations end then), else Faulted.
    /// </summary>
    internal static ValueTask<T> Failed<T>(Exception exception) =>
        exception is OperationCanceledException canceled ? new ValueTask<T>(CanceledWith<T>(canceled)) : ValueTask.FromException<T>(exception);

    /// <inheritdoc cref="Failed{T}(Exception)"/>
    internal static ValueTask Failed(Exception exception) =>
        exception is OperationCanceledException canceled ? new ValueTask(CanceledWith<bool>(canceled)) : ValueTask.FromException(exception);

    /// <summary>Sets <paramref name="completion"/> as a channel's: Canceled for an <see cref="OperationCanceledException"/>, Faulted for any other error.</summary>
    internal static void Complete(TaskCompletionSource completion, Exception? error)
    {
        if (error is null)
        {
            completion.TrySetResult();
        }
        else if (error is OperationCanceledException canceled)
        {
            completion.TrySetCanceled(canceled.CancellationToken);
        }
        else
        {
            completion.TrySetException(error);
        }
    }

    [DoesNotReturn]
    private static void Throw(Exception exception)
    {
        if (exception is OperationCanceledException)
        {
            // The same instance reaches every caller: rethrow it keeping its original stack trace.
            ExceptionDispatchInfo.Throw(exception);
        }

        throw exception;
    }

    // The async method builder completes the task as Canceled when the method throws an
    // OperationCanceledException, and keeps that very exception for whoever awaits it; neither
    // Task.FromCanceled nor TaskCompletionSource.TrySetCanceled can keep it. Cold path only.
#pragma warning disable CS1998 // An async method without await: wanted, see above.
    private static async Task<T> CanceledWith<T>(OperationCanceledException exception)
#pragma warning restore CS1998
    {
        ExceptionDispatchInfo.Throw(exception);
        return default!;
    }

    internal static QueueFullException Full() => new("The queue is full and its FullMode is Reject.");
}
