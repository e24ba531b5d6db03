using System.Threading.RateLimiting;
using AsyncUtils;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace AsyncUtils.Benchmarks;

/// <summary>
/// The cost of a granted permit: our exact sliding log against the BCL's approximate sliding
/// window, fixed window and token bucket. Every limiter is set so that it never refuses during a
/// run. The BCL limiters allow int.MaxValue permits per second; the sliding log allows
/// int.MaxValue per millisecond, because a sliding log keeps one entry per grant still inside its
/// window (memory O(permits in the window)) and a one-second window at this rate would hold tens
/// of millions of entries.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class RateLimiterBenchmarks : IDisposable
{
    private SlidingLogRateLimiter _slidingLog = null!;
    private SlidingLogRateLimiter _slidingLogTwoWindows = null!;
    private SlidingWindowRateLimiter _slidingWindow = null!;
    private FixedWindowRateLimiter _fixedWindow = null!;
    private TokenBucketRateLimiter _tokenBucket = null!;

    [GlobalSetup]
    public void Setup()
    {
        _slidingLog = new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions
        {
            Windows = { new SlidingLogWindow(int.MaxValue, TimeSpan.FromMilliseconds(1)) },
        });
        _slidingLogTwoWindows = new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions
        {
            Windows = { new SlidingLogWindow(int.MaxValue, TimeSpan.FromMilliseconds(1)), new SlidingLogWindow(int.MaxValue, TimeSpan.FromMilliseconds(1) / 2) },
        });
        _slidingWindow = new SlidingWindowRateLimiter(new SlidingWindowRateLimiterOptions
        {
            PermitLimit = int.MaxValue,
            Window = TimeSpan.FromSeconds(1),
            SegmentsPerWindow = 10,
            QueueLimit = 0,
            AutoReplenishment = true,
        });
        _fixedWindow = new FixedWindowRateLimiter(new FixedWindowRateLimiterOptions
        {
            PermitLimit = int.MaxValue,
            Window = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        });
        _tokenBucket = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = int.MaxValue,
            TokensPerPeriod = int.MaxValue,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        });
    }

    [GlobalCleanup]
    public void Dispose()
    {
        // Every row is named for the granted path: a refusal means the limiter ran out and the row measured something else.
        foreach (System.Threading.RateLimiting.RateLimiter limiter in new System.Threading.RateLimiting.RateLimiter[] { _slidingLog, _slidingLogTwoWindows, _slidingWindow, _fixedWindow, _tokenBucket })
        {
            if (limiter.GetStatistics() is { TotalFailedLeases: > 0 } statistics)
            {
                throw new InvalidOperationException($"{limiter.GetType().Name} refused {statistics.TotalFailedLeases} requests; the benchmark did not measure granted acquires only.");
            }
        }

        _slidingLog.Dispose();
        _slidingLogTwoWindows.Dispose();
        _slidingWindow.Dispose();
        _fixedWindow.Dispose();
        _tokenBucket.Dispose();
        GC.SuppressFinalize(this);
    }

    [Benchmark(Baseline = true, Description = "BCL SlidingWindow")]
    [BenchmarkCategory("AttemptAcquire")]
    public RateLimitLease SlidingWindow_Attempt() => _slidingWindow.AttemptAcquire();

    [Benchmark(Description = "SlidingLog (exact)")]
    [BenchmarkCategory("AttemptAcquire")]
    public RateLimitLease SlidingLog_Attempt() => _slidingLog.AttemptAcquire();

    [Benchmark(Description = "SlidingLog, 2 windows")]
    [BenchmarkCategory("AttemptAcquire")]
    public RateLimitLease SlidingLogTwoWindows_Attempt() => _slidingLogTwoWindows.AttemptAcquire();

    [Benchmark(Description = "BCL FixedWindow")]
    [BenchmarkCategory("AttemptAcquire")]
    public RateLimitLease FixedWindow_Attempt() => _fixedWindow.AttemptAcquire();

    [Benchmark(Description = "BCL TokenBucket")]
    [BenchmarkCategory("AttemptAcquire")]
    public RateLimitLease TokenBucket_Attempt() => _tokenBucket.AttemptAcquire();

    [Benchmark(Baseline = true, Description = "BCL SlidingWindow")]
    [BenchmarkCategory("AcquireAsync (granted at once)")]
    public RateLimitLease SlidingWindow_Acquire() => Sync(_slidingWindow.AcquireAsync());

    [Benchmark(Description = "SlidingLog (exact)")]
    [BenchmarkCategory("AcquireAsync (granted at once)")]
    public RateLimitLease SlidingLog_Acquire() => Sync(_slidingLog.AcquireAsync());

    [Benchmark(Description = "BCL FixedWindow")]
    [BenchmarkCategory("AcquireAsync (granted at once)")]
    public RateLimitLease FixedWindow_Acquire() => Sync(_fixedWindow.AcquireAsync());

    [Benchmark(Description = "BCL TokenBucket")]
    [BenchmarkCategory("AcquireAsync (granted at once)")]
    public RateLimitLease TokenBucket_Acquire() => Sync(_tokenBucket.AcquireAsync());

    /// <summary>Takes the lease the way a caller's await does on the synchronous path.</summary>
    private static RateLimitLease Sync(ValueTask<RateLimitLease> acquire) =>
        acquire.IsCompletedSuccessfully ? acquire.Result : acquire.AsTask().GetAwaiter().GetResult();
}
