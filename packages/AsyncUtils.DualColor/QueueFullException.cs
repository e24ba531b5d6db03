namespace AsyncUtils;

/// <summary>
/// Thrown by <c>Put</c> and <c>PutAsync</c> on a full bounded queue whose mode is
/// <see cref="QueueFullMode.Reject"/>. The item was not stored; the caller still owns it.
/// </summary>
public sealed class QueueFullException : InvalidOperationException
{
    /// <summary>Creates the exception with a default message.</summary>
    public QueueFullException()
        : base("The queue is full.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public QueueFullException(string? message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The inner exception, or <see langword="null"/>.</param>
    public QueueFullException(string? message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
