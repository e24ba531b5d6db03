using System.Globalization;
using System.Threading.RateLimiting;
using BclRateLimiter = System.Threading.RateLimiting.RateLimiter;

namespace AsyncUtils;

/// <summary>
/// The Python library async-utils' <c>async with ratelimiter:</c> in one line, for any
/// <see cref="System.Threading.RateLimiting.RateLimiter"/>:
/// <c>await using (await limiter.EnterAsync(ct)) { ... }</c> waits for a permit (in the limiter's
/// queue) or throws <see cref="RateLimitRejectedException"/> when the limiter refuses.
/// </summary>
public static class RateLimiterExtensions
{
    /// <summary>
    /// Waits for one permit and returns a scope holding it, or throws when the limiter refuses
    /// (for example its queue is full). Completes synchronously, without allocating, when a
    /// <see cref="SlidingLogRateLimiter"/> grants at once.
    /// </summary>
    /// <param name="limiter">The limiter.</param>
    /// <returns>A scope to dispose at the end of the block.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="limiter"/> is <see langword="null"/>.</exception>
    /// <exception cref="RateLimitRejectedException">The limiter refused; see its <c>RetryAfter</c>.</exception>
    public static ValueTask<RateLimitScope> EnterAsync(this BclRateLimiter limiter) =>
        EnterAsync(limiter, 1, CancellationToken.None);

    /// <summary>
    /// Waits for one permit and returns a scope holding it, or throws when the limiter refuses
    /// (for example its queue is full). Completes synchronously, without allocating, when a
    /// <see cref="SlidingLogRateLimiter"/> grants at once.
    /// </summary>
    /// <param name="limiter">The limiter.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A scope to dispose at the end of the block.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="limiter"/> is <see langword="null"/>.</exception>
    /// <exception cref="RateLimitRejectedException">The limiter refused; see its <c>RetryAfter</c>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first.</exception>
    public static ValueTask<RateLimitScope> EnterAsync(this BclRateLimiter limiter, CancellationToken cancellationToken) =>
        EnterAsync(limiter, 1, cancellationToken);

    /// <summary>
    /// Waits for <paramref name="permitCount"/> permits and returns a scope holding them, or throws
    /// when the limiter refuses.
    /// </summary>
    /// <param name="limiter">The limiter.</param>
    /// <param name="permitCount">The permits to take.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A scope to dispose at the end of the block.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="limiter"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="permitCount"/> is negative or more than the limiter can ever grant.</exception>
    /// <exception cref="RateLimitRejectedException">The limiter refused; see its <c>RetryAfter</c>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first.</exception>
    public static ValueTask<RateLimitScope> EnterAsync(this BclRateLimiter limiter, int permitCount, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(limiter);
        ValueTask<RateLimitLease> acquire = limiter.AcquireAsync(permitCount, cancellationToken);
        return acquire.IsCompletedSuccessfully
            ? new ValueTask<RateLimitScope>(ToScope(acquire.Result))
            : AwaitScope(acquire);
    }

    private static async ValueTask<RateLimitScope> AwaitScope(ValueTask<RateLimitLease> acquire) =>
        ToScope(await acquire.ConfigureAwait(false));

    private static RateLimitScope ToScope(RateLimitLease lease)
    {
        if (lease.IsAcquired)
        {
            return new RateLimitScope(lease);
        }

        TimeSpan? retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan value) ? value : null;
        string? reason = lease.TryGetMetadata(MetadataName.ReasonPhrase, out string? phrase) ? phrase : null;
        lease.Dispose();
        string message = retryAfter is TimeSpan wait
            ? string.Create(CultureInfo.InvariantCulture, $"The rate limiter rejected the request; retry after {wait}.")
            : "The rate limiter rejected the request.";
        throw new RateLimitRejectedException(message, retryAfter, reason);
    }
}
