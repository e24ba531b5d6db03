using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

/// <summary>Builds limiters on a fake clock.</summary>
internal static class TestClock
{
    internal static SlidingLogRateLimiter Limiter(FakeTimeProvider time, int permitLimit, TimeSpan period, int queueLimit = 0) =>
        new(new SlidingLogRateLimiterOptions
        {
            Windows = { new SlidingLogWindow(permitLimit, period) },
            QueueLimit = queueLimit,
            TimeProvider = time,
        });

    internal static TimeSpan? RetryAfter(System.Threading.RateLimiting.RateLimitLease lease) =>
        lease.TryGetMetadata(System.Threading.RateLimiting.MetadataName.RetryAfter, out TimeSpan value) ? value : null;

    internal static string? Reason(System.Threading.RateLimiting.RateLimitLease lease) =>
        lease.TryGetMetadata(System.Threading.RateLimiting.MetadataName.ReasonPhrase, out string? value) ? value : null;

    /// <summary>Bounds every wait in a test.</summary>
    internal static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
}
