namespace AsyncUtils;

/// <summary>Settings of a <see cref="LockoutHandler"/>; the handler copies them when it is created.</summary>
public sealed class LockoutHandlerOptions
{
    private TimeSpan _maxLockout = TimeSpan.FromMinutes(5);
    private TimeSpan _lockoutWithoutRetryAfter = TimeSpan.Zero;

    /// <summary>
    /// The longest lockout one response can cause, whatever its <c>Retry-After</c> says (an absurd
    /// or hostile value cannot lock every client out for days). Default: 5 minutes.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public TimeSpan MaxLockout
    {
        get => _maxLockout;
        set
        {
            if (value <= TimeSpan.Zero)
            {
                throw new ArgumentOutOfRangeException(nameof(MaxLockout), value, "MaxLockout must be greater than zero.");
            }

            _maxLockout = value;
        }
    }

    /// <summary>
    /// The lockout applied after a 429 (or, with <see cref="LockOnServiceUnavailable"/>, a 503) that
    /// has no <c>Retry-After</c> (or one that cannot be parsed), capped at <see cref="MaxLockout"/>.
    /// Default: zero, such a response locks nothing out. A <c>Retry-After</c> of zero or a date
    /// already past means "retry now" and locks nothing out either way.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public TimeSpan LockoutWithoutRetryAfter
    {
        get => _lockoutWithoutRetryAfter;
        set
        {
            if (value < TimeSpan.Zero)
            {
                throw new ArgumentOutOfRangeException(nameof(LockoutWithoutRetryAfter), value, "LockoutWithoutRetryAfter must be zero or more.");
            }

            _lockoutWithoutRetryAfter = value;
        }
    }

    /// <summary>
    /// Whether a 503 Service Unavailable locks out like a 429 Too Many Requests (both may carry a
    /// <c>Retry-After</c>). Default: <see langword="true"/>.
    /// </summary>
    public bool LockOnServiceUnavailable { get; set; } = true;
}
