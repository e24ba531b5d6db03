using System.Threading.RateLimiting;

namespace AsyncUtils;

/// <summary>
/// The lease a <see cref="SlidingLogRateLimiter"/> hands out. Disposing it does nothing: a
/// sliding-log permit is spent when granted and frees itself when it leaves the window.
/// </summary>
internal sealed class SlidingLogLease : RateLimitLease
{
    private static readonly string[] RetryAfterName = [MetadataName.RetryAfter.Name];
    private static readonly string[] RetryAfterAndReasonNames = [MetadataName.RetryAfter.Name, MetadataName.ReasonPhrase.Name];
    private static readonly string[] ReasonName = [MetadataName.ReasonPhrase.Name];
    private static readonly object BoxedZero = TimeSpan.Zero;

    /// <summary>The cached granted lease whose retry-after is zero: another permit is free right now.</summary>
    internal static readonly SlidingLogLease GrantedWithRoom = new(true, TimeSpan.Zero, null);

    internal const string ExhaustedReason = "The rate limit is reached: every permit of a window is in use.";
    internal const string QueueFullReason = "The rate limit is reached and the queue is full.";
    internal const string QueuedAheadReason = "Earlier requests are queued; a request that does not wait cannot pass them.";
    internal const string DisposedReason = "The rate limiter was disposed.";
    internal const string LimitLoweredReason = "The limits were lowered below this request's permit count, so it can never be granted.";

    private readonly TimeSpan? _retryAfter;
    private readonly string? _reason;

    internal SlidingLogLease(bool isAcquired, TimeSpan? retryAfter, string? reason)
    {
        IsAcquired = isAcquired;
        _retryAfter = retryAfter;
        _reason = reason;
    }

    /// <inheritdoc/>
    public override bool IsAcquired { get; }

    /// <inheritdoc/>
    public override IEnumerable<string> MetadataNames =>
        _retryAfter is null ? (_reason is null ? [] : ReasonName) : (_reason is null ? RetryAfterName : RetryAfterAndReasonNames);

    /// <inheritdoc/>
    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        if (_retryAfter is TimeSpan retryAfter && metadataName == MetadataName.RetryAfter.Name)
        {
            metadata = retryAfter == TimeSpan.Zero ? BoxedZero : retryAfter;
            return true;
        }

        if (_reason is not null && metadataName == MetadataName.ReasonPhrase.Name)
        {
            metadata = _reason;
            return true;
        }

        metadata = null;
        return false;
    }
}
