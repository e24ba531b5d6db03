namespace AsyncUtils;

/// <summary>
/// Thrown by <see cref="Lockout.EnterOrThrow"/> when a lockout is in force; says when it ends.
/// </summary>
public sealed class LockoutActiveException : Exception
{
    /// <summary>Creates the exception with a default message.</summary>
    public LockoutActiveException()
        : base("The resource is locked out.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public LockoutActiveException(string? message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public LockoutActiveException(string? message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a lockout that ends at <paramref name="lockedUntil"/>.</summary>
    /// <param name="message">The message.</param>
    /// <param name="lockedUntil">When the lockout ends.</param>
    /// <param name="retryAfter">How long from the moment of the throw until the lockout ends.</param>
    public LockoutActiveException(string? message, DateTimeOffset lockedUntil, TimeSpan retryAfter)
        : base(message)
    {
        LockedUntil = lockedUntil;
        RetryAfter = retryAfter;
    }

    /// <summary>When the lockout ends (as known when the exception was thrown; it can only move later).</summary>
    public DateTimeOffset LockedUntil { get; }

    /// <summary>How long, from the moment of the throw, until the lockout ends.</summary>
    public TimeSpan RetryAfter { get; }
}
