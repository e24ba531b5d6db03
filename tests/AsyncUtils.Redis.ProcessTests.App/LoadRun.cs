using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace AsyncUtils.Redis.ProcessTests.App;

/// <summary>One attempt to take a permit: granted with the server's decision time, or refused.</summary>
/// <param name="Granted">Whether the permit was granted.</param>
/// <param name="ServerMicros">The server's decision time of a grant, Unix microseconds.</param>
/// <param name="RetryAfter">For a refusal, when the limiter says to try again, if it says.</param>
/// <param name="Reason">For a refusal, the limiter's reason, if it gives one.</param>
public readonly record struct Attempt(bool Granted, long ServerMicros, TimeSpan? RetryAfter, string? Reason);

/// <summary>
/// The load a process puts on a shared limiter: <c>callers</c> tasks, each asking for one permit after
/// another for <c>duration</c>. A caller that is refused tries again at once when the limiter gives
/// no retry-after (RedisRateLimiting), or after the retry-after it gives (ours). Prints one line per
/// grant and a summary; see <see cref="Program"/> for the format.
/// </summary>
public sealed class LoadRun
{
    private readonly Func<CancellationToken, ValueTask<Attempt>> _attempt;
    private readonly Output _output;
    private readonly List<long> _callMicros = [];
    private readonly Dictionary<string, int> _refusalReasons = [];
    private long _grants;
    private long _calls;
    private long _refusals;
    private long _errors;

    /// <summary>Creates a run that takes permits with <paramref name="attempt"/>.</summary>
    public LoadRun(Func<CancellationToken, ValueTask<Attempt>> attempt, Output output)
    {
        _attempt = attempt;
        _output = output;
    }

    /// <summary>Runs <paramref name="callers"/> callers for <paramref name="duration"/>, then prints the summary.</summary>
    public async Task RunAsync(int callers, TimeSpan duration)
    {
        using var stop = new CancellationTokenSource(duration);
        Task[] tasks = [.. Enumerable.Range(0, callers).Select(i => Task.Run(() => CallerAsync(i, stop.Token)))];
        await Task.WhenAll(tasks);

        var latencies = new StringBuilder();
        lock (_callMicros)
        {
            foreach (long micros in _callMicros)
            {
                latencies.Append(latencies.Length == 0 ? string.Empty : ",").Append(micros.ToString(CultureInfo.InvariantCulture));
            }
        }

        _output.Line($"calllatency {latencies}");
        lock (_refusalReasons)
        {
            foreach ((string reason, int count) in _refusalReasons)
            {
                _output.Line($"refusalreason {count} {reason}");
            }
        }

        _output.Line(string.Create(CultureInfo.InvariantCulture, $"summary grants={_grants} calls={_calls} refusals={_refusals} errors={_errors} requests={RequestCounter.Requests}"));
    }

    private async Task CallerAsync(int caller, CancellationToken stop)
    {
        // RedisRateLimiting: where the probe writes the decision time of this caller's grants.
        var grantTime = new System.Runtime.CompilerServices.StrongBox<long>();
        RedisRateLimitingProbe.GrantTime = grantTime;
        while (!stop.IsCancellationRequested)
        {
            long wantedAt = Stopwatch.GetTimestamp();
            int calls = 0;
            while (true)
            {
                long callStart = Stopwatch.GetTimestamp();
                calls++;
                Interlocked.Increment(ref _calls);
                Attempt attempt;
                try
                {
                    grantTime.Value = 0;
                    attempt = await _attempt(stop);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    // The run ended while this caller waited: say how long it had waited, so a
                    // waiter stuck for longer than the limit allows is seen.
                    _output.Line(string.Create(CultureInfo.InvariantCulture, $"unfinished {caller} {Micros(Stopwatch.GetElapsedTime(wantedAt))} {calls}"));
                    return;
                }
                catch (Exception e)
                {
                    Interlocked.Increment(ref _errors);
                    _output.Line($"error {caller} {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
                    if (!await DelayAsync(TimeSpan.FromMilliseconds(50), stop))
                    {
                        return;
                    }

                    continue;
                }

                lock (_callMicros)
                {
                    _callMicros.Add(Micros(Stopwatch.GetElapsedTime(callStart)));
                }

                if (attempt.Granted)
                {
                    Interlocked.Increment(ref _grants);
                    long serverMicros = attempt.ServerMicros != 0 ? attempt.ServerMicros : grantTime.Value;
                    _output.Line(string.Create(CultureInfo.InvariantCulture, $"grant {caller} {serverMicros} {Micros(Stopwatch.GetElapsedTime(wantedAt))} {calls}"));
                    break;
                }

                Interlocked.Increment(ref _refusals);
                if (attempt.Reason is { } reason)
                {
                    lock (_refusalReasons)
                    {
                        _refusalReasons[reason] = _refusalReasons.GetValueOrDefault(reason) + 1;
                    }
                }

                if (attempt.RetryAfter is { } retryAfter && retryAfter > TimeSpan.Zero)
                {
                    if (!await DelayAsync(retryAfter, stop))
                    {
                        _output.Line(string.Create(CultureInfo.InvariantCulture, $"unfinished {caller} {Micros(Stopwatch.GetElapsedTime(wantedAt))} {calls}"));
                        return;
                    }
                }
                else if (stop.IsCancellationRequested)
                {
                    return;
                }
            }
        }
    }

    private static async Task<bool> DelayAsync(TimeSpan delay, CancellationToken stop)
    {
        try
        {
            await Task.Delay(delay, stop);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Whole microseconds in <paramref name="span"/>.</summary>
    public static long Micros(TimeSpan span) => span.Ticks / 10;
}

/// <summary>Standard output, one whole line at a time from any thread.</summary>
public sealed class Output
{
    private readonly Lock _lock = new();

    /// <summary>Writes one line.</summary>
    public void Line(string line)
    {
        lock (_lock)
        {
            Console.Out.WriteLine(line);
        }
    }
}
