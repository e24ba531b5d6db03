using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.RateLimiting;
using StackExchange.Redis;

namespace AsyncUtils.Redis.ProcessTests.App;

/// <summary>The modes that run <see cref="RedisSlidingLogRateLimiter"/> (AsyncUtils.RateLimiter.Redis).</summary>
public static class OursMode
{
    /// <summary>
    /// Parses "L1,L2" and "W1,W2" (milliseconds) into windows, so one process can enforce several
    /// windows at once.
    /// </summary>
    public static SlidingLogWindow[] Windows(string limits, string windowsMs)
    {
        string[] l = limits.Split(',');
        string[] w = windowsMs.Split(',');
        if (l.Length != w.Length)
        {
            throw new ArgumentException("as many limits as windows are needed");
        }

        return [.. l.Zip(w, (limit, window) => new SlidingLogWindow(
            int.Parse(limit, CultureInfo.InvariantCulture),
            TimeSpan.FromMilliseconds(double.Parse(window, CultureInfo.InvariantCulture))))];
    }

    /// <summary>Builds the limiter: one per process, on this process's own connection and (skewed) clock.</summary>
    public static RedisSlidingLogRateLimiter Create(
        IConnectionMultiplexer connection, string name, SlidingLogWindow[] windows, int queueLimit, TimeSpan skew, TimeSpan? ticketTimeout = null)
    {
        var options = new RedisSlidingLogRateLimiterOptions
        {
            Name = name,
            QueueLimit = queueLimit,
            TimeProvider = skew == TimeSpan.Zero ? null : new SkewedTimeProvider(skew),
        };
        if (ticketTimeout is { } timeout)
        {
            options.TicketTimeout = timeout;
        }

        foreach (SlidingLogWindow window in windows)
        {
            options.Windows.Add(window);
        }

        return new RedisSlidingLogRateLimiter(RequestCounter.Wrap(connection), options);
    }

    /// <summary>One attempt through the limiter: a queued wait, granted with the server's decision time, or refused with its retry-after and reason.</summary>
    public static async ValueTask<Attempt> AttemptAsync(RateLimiter limiter, int permits, CancellationToken cancellationToken)
    {
        using RateLimitLease lease = await limiter.AcquireAsync(permits, cancellationToken);
        if (lease.IsAcquired)
        {
            long micros = lease.TryGetMetadata(RedisRateLimitMetadata.GrantedAt, out DateTimeOffset grantedAt)
                ? UnixMicros(grantedAt)
                : -1; // granted without Redis (Open or LocalFallback): no server decision time
            return new Attempt(true, micros, null, null);
        }

        TimeSpan? retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan r) ? r : null;
        string? reason = lease.TryGetMetadata(MetadataName.ReasonPhrase, out string? text) ? text : null;
        return new Attempt(false, 0, retryAfter, reason);
    }

    /// <summary>Unix microseconds of <paramref name="time"/>.</summary>
    public static long UnixMicros(DateTimeOffset time) => (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;

    /// <summary>
    /// Commands on standard input, one per line, for the queue tests:
    /// <c>acquire ID PERMITS</c> (prints <c>sent ID</c>, then <c>granted ID SERVER_US</c>,
    /// <c>refused ID RETRY_MS REASON</c>, <c>cancelled ID</c> or <c>failed ID TYPE MESSAGE</c>),
    /// <c>cancel ID</c>, <c>dispose</c> (prints <c>disposed</c>), <c>exit</c>.
    /// </summary>
    public static async Task ScriptAsync(RedisSlidingLogRateLimiter limiter, Output output)
    {
        var tokens = new ConcurrentDictionary<string, CancellationTokenSource>();
        var pending = new List<Task>();
        output.Line($"ready {Environment.ProcessId}");
        while (await Console.In.ReadLineAsync() is { } line)
        {
            string[] parts = line.Split(' ');
            switch (parts[0])
            {
                case "acquire":
                    string id = parts[1];
                    int permits = int.Parse(parts[2], CultureInfo.InvariantCulture);
                    var cts = new CancellationTokenSource();
                    tokens[id] = cts;
                    pending.Add(AcquireAsync(limiter, id, permits, output, cts.Token));
                    break;
                case "cancel":
                    if (tokens.TryGetValue(parts[1], out CancellationTokenSource? source))
                    {
                        await source.CancelAsync();
                    }

                    break;
                case "dispose":
                    await limiter.DisposeAsync();
                    output.Line("disposed");
                    break;
                case "exit":
                    await Task.WhenAll(pending).WaitAsync(TimeSpan.FromSeconds(10));
                    output.Line("done");
                    return;
            }
        }
    }

    private static async Task AcquireAsync(RateLimiter limiter, string id, int permits, Output output, CancellationToken token)
    {
        ValueTask<Attempt> attempt;
        try
        {
            attempt = AttemptAsync(limiter, permits, token);
        }
        catch (Exception e)
        {
            output.Line($"failed {id} {e.GetType().Name} {e.Message.ReplaceLineEndings(" ")}");
            return;
        }

        output.Line($"sent {id}");
        try
        {
            Attempt result = await attempt;
            output.Line(result.Granted
                ? string.Create(CultureInfo.InvariantCulture, $"granted {id} {result.ServerMicros}")
                : string.Create(CultureInfo.InvariantCulture, $"refused {id} {(long)(result.RetryAfter?.TotalMilliseconds ?? -1)} {result.Reason}"));
        }
        catch (OperationCanceledException)
        {
            output.Line($"cancelled {id}");
        }
        catch (Exception e)
        {
            output.Line($"failed {id} {e.GetType().Name} {e.Message.ReplaceLineEndings(" ")}");
        }
    }
}
