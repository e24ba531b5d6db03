using System.Threading.RateLimiting;

namespace AsyncUtils;

/// <summary>A lease of a <see cref="RedisSlidingLogRateLimiter"/>. Disposing it does nothing: a permit frees itself when it leaves the window.</summary>
internal sealed class RedisLease : RateLimitLease
{
    internal const string ExhaustedReason = "The rate limit is reached: a window has no room, or requests are queued ahead in the fleet (decided by Redis).";
    internal const string QueueFullReason = "The rate limit is reached and this process's queue is full (decided by Redis).";
    internal const string QuarantineReason = "The limiter is in quarantine after Redis lost its state (a restart, a failover or an evicted key): grants made before the loss may still be in their windows.";
    internal const string DisposedReason = "The rate limiter was disposed.";
    internal const string LimitLoweredReason = "The limits were lowered below this request's permit count, so it can never be granted.";
    internal const string UnreachableReason = "Redis cannot be reached and FailureMode is Closed: no permit is granted without Redis.";
    internal const string HoldOffReason = "Redis cannot be reached; FailureMode is LocalFallback and the hold-off of the longest window has not passed yet.";
    internal const string LastRefusalReason = "The rate limit is reached (from this process's record of Redis's last answer; AttemptAcquire never calls Redis).";
    internal const string AttemptNeedsRedisReason = "AttemptAcquire never calls Redis, and no recorded refusal covers this moment: use AcquireAsync to ask Redis.";
    internal const string OpenReason = "Granted without Redis: Redis cannot be reached and FailureMode is Open.";

    private readonly TimeSpan? _retryAfter;
    private readonly string? _reason;
    private readonly DateTimeOffset? _grantedAt;

    internal RedisLease(bool isAcquired, TimeSpan? retryAfter, string? reason, DateTimeOffset? grantedAt)
    {
        IsAcquired = isAcquired;
        _retryAfter = retryAfter;
        _reason = reason;
        _grantedAt = grantedAt;
    }

    /// <inheritdoc/>
    public override bool IsAcquired { get; }

    /// <inheritdoc/>
    public override IEnumerable<string> MetadataNames
    {
        get
        {
            if (_retryAfter is not null)
            {
                yield return MetadataName.RetryAfter.Name;
            }

            if (_reason is not null)
            {
                yield return MetadataName.ReasonPhrase.Name;
            }

            if (_grantedAt is not null)
            {
                yield return RedisRateLimitMetadata.GrantedAt.Name;
            }
        }
    }

    /// <inheritdoc/>
    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        if (_retryAfter is TimeSpan retryAfter && metadataName == MetadataName.RetryAfter.Name)
        {
            metadata = retryAfter;
            return true;
        }

        if (_reason is not null && metadataName == MetadataName.ReasonPhrase.Name)
        {
            metadata = _reason;
            return true;
        }

        if (_grantedAt is DateTimeOffset grantedAt && metadataName == RedisRateLimitMetadata.GrantedAt.Name)
        {
            metadata = grantedAt;
            return true;
        }

        metadata = null;
        return false;
    }
}
