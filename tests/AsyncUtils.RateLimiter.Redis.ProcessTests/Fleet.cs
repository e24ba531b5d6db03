using System.Globalization;
using AsyncUtils.Testing;

namespace AsyncUtils.Tests;

/// <summary>One grant printed by a worker: its server decision time and what it cost the caller.</summary>
internal sealed record Grant(int Process, int Caller, long ServerMicros, long WaitMicros, int Calls);

/// <summary>What a fleet of worker processes printed, put together.</summary>
internal sealed class FleetResult
{
    public List<Grant> Grants { get; } = [];

    public List<long> CallLatencyMicros { get; } = [];

    /// <summary>Callers still waiting when their run ended: (process, how long they had waited in µs).</summary>
    public List<(int Process, long WaitMicros)> Unfinished { get; } = [];

    public List<string> Errors { get; } = [];

    public Dictionary<string, int> RefusalReasons { get; } = [];

    public long Calls { get; set; }

    public long Refusals { get; set; }

    /// <summary>The requests the limiters sent to Redis (round trips), counted in the workers.</summary>
    public long Requests { get; set; }

    public TimeSpan Elapsed { get; set; }

    /// <summary>The grants' server decision times, sorted.</summary>
    public long[] Times => [.. Grants.Select(g => g.ServerMicros).Order()];

    /// <summary>
    /// The most grants in any window of length <paramref name="window"/>, over every position: the
    /// count in [t, t + window) is largest for some window that starts at a grant, so every grant is
    /// tried as a start.
    /// </summary>
    public (int Count, long StartMicros) WorstWindow(TimeSpan window) => WorstWindow(Times, window);

    public static (int Count, long StartMicros) WorstWindow(long[] sortedMicros, TimeSpan window)
    {
        long width = window.Ticks / 10;
        int best = 0;
        long start = 0;
        int j = 0;
        for (int i = 0; i < sortedMicros.Length; i++)
        {
            if (j < i)
            {
                j = i;
            }

            while (j < sortedMicros.Length && sortedMicros[j] < sortedMicros[i] + width)
            {
                j++;
            }

            if (j - i > best)
            {
                best = j - i;
                start = sortedMicros[i];
            }
        }

        return (best, start);
    }

    /// <summary>The <paramref name="p"/>-quantile (0..1) of <paramref name="values"/>, nearest rank.</summary>
    public static double Percentile(IReadOnlyList<long> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        long[] sorted = [.. values.Order()];
        int rank = (int)Math.Ceiling(p * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }

    private string LastGrant(int process) =>
        Grants.Where(g => g.Process == process).Select(g => g.ServerMicros).DefaultIfEmpty().Max().ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A short account for failure messages.</summary>
    public string Describe(TimeSpan window)
    {
        (int count, long start) = WorstWindow(window);
        string perProcess = string.Join(", ", Grants.GroupBy(g => g.Process).OrderBy(g => g.Key).Select(g => $"p{g.Key}={g.Count()}"));
        string reasons = string.Join("; ", RefusalReasons.Select(r => $"{r.Value}x {r.Key}"));
        return $"{Grants.Count} grants ({perProcess}), {Calls} calls, {Requests} Redis requests, {Refusals} refusals [{reasons}], worst window {count} from {start} µs, "
            + $"{Unfinished.Count} unfinished (longest {(Unfinished.Count == 0 ? 0 : Unfinished.Max(u => u.WaitMicros)) / 1000} ms), "
            + $"errors: {string.Join(" | ", Errors.Take(5))}; "
            + $"waiting over 1 s at the end: {string.Join(", ", Unfinished.Where(u => u.WaitMicros > 1_000_000).Select(u => $"p{u.Process} {u.WaitMicros / 1000} ms (its last grant at {LastGrant(u.Process)})"))}";
    }
}

/// <summary>Starts N worker processes on one limiter name, starts them together, and collects what they print.</summary>
internal static class Fleet
{
    /// <summary>
    /// Runs <c>App MODE CONNECTION NAME LIMIT WINDOW_MS CALLERS DURATION_MS SKEW_MS</c> once per entry of
    /// <paramref name="skewsMs"/>, sends them all <c>go</c> once every one is ready, runs
    /// <paramref name="during"/> meanwhile (for example a Redis restart), and waits for them to finish.
    /// </summary>
    public static Task<FleetResult> RunAsync(
        RedisServer server, string mode, string name, int limit, TimeSpan window, int callers, TimeSpan duration,
        int[] skewsMs, Func<Task>? during = null) =>
        RunAsync(server, mode, name, Text(limit), Text((long)window.TotalMilliseconds), callers, duration, skewsMs, during);

    /// <summary>As above, with comma-separated limits and windows (ms) for several windows at once (mode ours only).</summary>
    public static async Task<FleetResult> RunAsync(
        RedisServer server, string mode, string name, string limits, string windowsMs, int callers, TimeSpan duration,
        int[] skewsMs, Func<Task>? during = null)
    {
        var processes = new List<AppProcess>();
        try
        {
            for (int i = 0; i < skewsMs.Length; i++)
            {
                processes.Add(AppProcess.Start(AppProcess.TestApp, $"{mode} process {i} (skew {skewsMs[i]} ms)",
                    mode, server.ConnectionString, name, limits, windowsMs, Text(callers),
                    Text((long)duration.TotalMilliseconds), Text(skewsMs[i])));
            }

            foreach (AppProcess process in processes)
            {
                await process.WaitForLineStartingAsync("ready");
            }

            var started = System.Diagnostics.Stopwatch.StartNew();
            foreach (AppProcess process in processes)
            {
                await process.WriteLineAsync("go");
            }

            if (during is not null)
            {
                await during();
            }

            var result = new FleetResult();
            for (int i = 0; i < processes.Count; i++)
            {
                AppProcess process = processes[i];
                int exit = await process.WaitForExitAsync(duration + AppProcess.Bound);
                Assert.That(exit, Is.Zero, $"{process.Label} failed:\n{process.Errors}");
                Assert.That(process.Lines, Does.Contain("done"), $"{process.Label} did not finish its run:\n{string.Join("\n", process.Lines.TakeLast(20))}\n{process.Errors}");
                Parse(i, process.Lines, result);
            }

            result.Elapsed = started.Elapsed;
            return result;
        }
        finally
        {
            foreach (AppProcess process in processes)
            {
                await process.DisposeAsync();
            }
        }
    }

    private static void Parse(int index, IReadOnlyList<string> lines, FleetResult result)
    {
        foreach (string line in lines)
        {
            string[] parts = line.Split(' ');
            switch (parts[0])
            {
                case "grant":
                    result.Grants.Add(new Grant(index, Int(parts[1]), Long(parts[2]), Long(parts[3]), Int(parts[4])));
                    break;
                case "unfinished":
                    result.Unfinished.Add((index, Long(parts[2])));
                    break;
                case "error":
                    result.Errors.Add($"p{index}: {line}");
                    break;
                case "calllatency" when parts.Length > 1 && parts[1].Length > 0:
                    result.CallLatencyMicros.AddRange(parts[1].Split(',').Select(Long));
                    break;
                case "refusalreason":
                    string reason = string.Join(' ', parts.Skip(2));
                    result.RefusalReasons[reason] = result.RefusalReasons.GetValueOrDefault(reason) + Int(parts[1]);
                    break;
                case "summary":
                    foreach (string pair in parts.Skip(1))
                    {
                        string[] kv = pair.Split('=');
                        if (kv[0] == "calls")
                        {
                            result.Calls += Long(kv[1]);
                        }
                        else if (kv[0] == "requests")
                        {
                            result.Requests += Long(kv[1]);
                        }
                        else if (kv[0] == "refusals")
                        {
                            result.Refusals += Long(kv[1]);
                        }
                    }

                    break;
            }
        }
    }

    public static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static int Int(string text) => int.Parse(text, CultureInfo.InvariantCulture);

    private static long Long(string text) => long.Parse(text, CultureInfo.InvariantCulture);
}
