namespace AsyncUtils;

/// <summary>What a <see cref="RedisSlidingLogRateLimiter"/> does while Redis cannot be reached.</summary>
public enum RedisRateLimiterFailureMode
{
    /// <summary>
    /// Never over-grant (the default): new requests are refused with a reason, requests already
    /// queued keep waiting (until their token fires or the limiter is disposed) and are served
    /// in order once Redis answers again.
    /// </summary>
    Closed = 0,

    /// <summary>
    /// Like <see cref="Closed"/> for a hold-off of the longest window (so every grant Redis made
    /// has left its windows), then each process grants from an in-process
    /// <see cref="SlidingLogRateLimiter"/> holding its share of each limit
    /// (<see cref="RedisSlidingLogRateLimiterOptions.LocalFallbackShare"/>) until Redis answers
    /// again. The fleet then grants up to processes x share x limit per window.
    /// </summary>
    LocalFallback = 1,

    /// <summary>Grant every request while Redis cannot be reached (availability over the limit).</summary>
    Open = 2,
}
