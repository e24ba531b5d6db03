using System.Threading.Channels;

namespace AsyncUtils;

/// <summary>
/// Thrown by a put on a completed queue, and by a take on a completed queue that has no items
/// left. When the queue was completed with an error, that error is the
/// <see cref="Exception.InnerException"/>.
/// </summary>
/// <remarks>
/// It derives from <see cref="ChannelClosedException"/> (itself an
/// <see cref="InvalidOperationException"/>), so code written against the queue's
/// <c>Reader</c>/<c>Writer</c> channel views catches it where it expects a channel to be closed.
/// A queue completed with an <see cref="OperationCanceledException"/> throws that exception
/// instead, as a channel does, so a consumer's <c>catch (OperationCanceledException)</c> sees a
/// producer that stopped because it was cancelled.
/// </remarks>
public sealed class QueueCompletedException : ChannelClosedException
{
    /// <summary>Creates the exception with a default message.</summary>
    public QueueCompletedException()
        : base("The queue has been completed.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public QueueCompletedException(string? message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error the queue was completed with.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The error passed to <c>Complete</c>, or <see langword="null"/>.</param>
    public QueueCompletedException(string? message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
