using System.Threading.RateLimiting;
using AsyncUtils.Testing;
using StackExchange.Redis;

namespace AsyncUtils.Tests;

/// <summary>Helpers: processes (one multiplexer each), limiters, and the exactness check on the server's decision times.</summary>
internal static class RedisTestSupport
{
    internal static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);

    private static int s_names;

    internal static string UniqueName(string prefix) => prefix + "-" + Interlocked.Increment(ref s_names) + "-" + Guid.NewGuid().ToString("N")[..6];

    /// <summary>A separate connection, standing for a separate process.</summary>
    internal static async Task<ConnectionMultiplexer> ConnectAsync(RedisServer server)
    {
        ConnectionMultiplexer connection = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString);
        Assert.That(connection.IsConnected, Is.True, "connected to the test server");
        return connection;
    }

    internal static RedisSlidingLogRateLimiter Limiter(
        IConnectionMultiplexer connection,
        string name,
        int queueLimit,
        params SlidingLogWindow[] windows) =>
        Limiter(connection, name, queueLimit, RedisRateLimiterFailureMode.Closed, null, windows);

    internal static RedisSlidingLogRateLimiter Limiter(
        IConnectionMultiplexer connection,
        string name,
        int queueLimit,
        RedisRateLimiterFailureMode mode,
        TimeProvider? time,
        params SlidingLogWindow[] windows)
    {
        var options = new RedisSlidingLogRateLimiterOptions
        {
            Name = name,
            QueueLimit = queueLimit,
            FailureMode = mode,
            TimeProvider = time,
        };
        foreach (SlidingLogWindow window in windows)
        {
            options.Windows.Add(window);
        }

        return new RedisSlidingLogRateLimiter(connection, options);
    }

    internal static DateTimeOffset GrantedAt(RateLimitLease lease)
    {
        Assert.That(lease.IsAcquired, Is.True, "granted");
        Assert.That(lease.TryGetMetadata(RedisRateLimitMetadata.GrantedAt, out DateTimeOffset at), Is.True, "GrantedAt present");
        return at;
    }

    internal static TimeSpan RetryAfter(RateLimitLease lease)
    {
        Assert.That(lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan retryAfter), Is.True, "RetryAfter present");
        return retryAfter;
    }

    internal static string? Reason(RateLimitLease lease) =>
        lease.TryGetMetadata(MetadataName.ReasonPhrase, out string? reason) ? reason : null;

    /// <summary>
    /// The most grants (weighted by permits) in any half-open window of length <paramref name="window"/>:
    /// the maximum is reached by a window that starts at a grant, so checking those covers every position.
    /// </summary>
    internal static int WorstWindow(IReadOnlyList<(DateTimeOffset At, int Permits)> grants, TimeSpan window)
    {
        var sorted = grants.OrderBy(g => g.At).ToArray();
        int worst = 0;
        int sum = 0;
        int end = 0;
        for (int start = 0; start < sorted.Length; start++)
        {
            while (end < sorted.Length && sorted[end].At < sorted[start].At + window)
            {
                sum += sorted[end].Permits;
                end++;
            }

            worst = Math.Max(worst, sum);
            sum -= sorted[start].Permits;
        }

        return worst;
    }

    internal static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("timed out waiting until " + what);
            }

            await Task.Delay(5);
        }
    }

    internal static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("timed out waiting until " + what);
            }

            await Task.Delay(5);
        }
    }

    internal static async Task<T> Within<T>(Task<T> task, string what)
    {
        Task winner = await Task.WhenAny(task, Task.Delay(Bound));
        Assert.That(winner, Is.SameAs(task), "timed out: " + what);
        return await task;
    }

    /// <summary>A clock whose local time runs <paramref name="offset"/> ahead (or behind) of the real one, for skew tests.</summary>
    internal sealed class SkewedTimeProvider(TimeSpan offset) : TimeProvider
    {
        private readonly long _offsetTimestamp = (long)(offset.TotalSeconds * System.TimestampFrequency);

        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + offset;

        public override long GetTimestamp() => System.GetTimestamp() + _offsetTimestamp;

        public override long TimestampFrequency => System.TimestampFrequency;
    }
}
