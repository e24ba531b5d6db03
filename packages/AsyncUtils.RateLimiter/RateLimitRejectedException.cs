namespace AsyncUtils;

/// <summary>
/// Thrown by <see cref="RateLimiterExtensions.EnterAsync(System.Threading.RateLimiting.RateLimiter, CancellationToken)"/>
/// when the limiter refuses the request (its queue is full, or it was disposed while the request
/// waited). Carries the lease's retry-after time and reason when the limiter gave them.
/// </summary>
public sealed class RateLimitRejectedException : Exception
{
    /// <summary>Creates the exception with a default message.</summary>
    public RateLimitRejectedException()
        : base("The rate limiter rejected the request.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public RateLimitRejectedException(string? message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public RateLimitRejectedException(string? message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with the limiter's retry-after time and reason.</summary>
    /// <param name="message">The message.</param>
    /// <param name="retryAfter">When a retry may succeed, or <see langword="null"/> when the limiter did not say.</param>
    /// <param name="reason">The limiter's reason phrase, if any.</param>
    public RateLimitRejectedException(string? message, TimeSpan? retryAfter, string? reason)
        : base(message)
    {
        RetryAfter = retryAfter;
        Reason = reason;
    }

    /// <summary>How long to wait before a retry may succeed, from the lease's <c>RetryAfter</c> metadata; <see langword="null"/> when absent.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>The lease's <c>ReasonPhrase</c> metadata, when present.</summary>
    public string? Reason { get; }
}
