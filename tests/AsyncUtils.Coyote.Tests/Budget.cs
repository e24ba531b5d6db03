namespace AsyncUtils.Coyote.Tests;

/// <summary>
/// Iterations (explored interleavings) per test, per primitive. Measured: the whole project runs
/// in well under a minute on two busy cores (most tests take 1-3 s); raise one locally to search
/// harder. The harness self-checks use their own budget of 100 (Coyote finds those bugs at once).
/// </summary>
internal static class Budget
{
    public const uint Lockout = 1000;
    public const uint PrioritySemaphore = 1000;
    public const uint DualColor = 1000;
    public const uint TaskCache = 500;
    public const uint CoroutineCache = 500;
    public const uint RateLimiter = 1000;
    public const uint Waterfall = 200;
    public const uint BackgroundTasks = 500;
}
