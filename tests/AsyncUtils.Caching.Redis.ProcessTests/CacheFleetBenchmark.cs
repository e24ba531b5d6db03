using System.Globalization;
using System.Text;
using AsyncUtils.Testing;
using StackExchange.Redis;

namespace AsyncUtils.Tests;

/// <summary>
/// The comparison of issue 14 on real processes and one real redis-server, in the same run: ours
/// (<see cref="DistributedTaskCache{TValue}"/> over <see cref="RedisSecondLevelCache"/>), HybridCache 10.4
/// over the Redis <c>IDistributedCache</c>, and FusionCache 2.9 with the Redis distributed cache and its
/// Redis backplane (no distributed locker: its package pulls a DistributedLock version that is not
/// served). Per cache, 4 worker processes with their own connections:
/// <list type="bullet">
/// <item>L2 hit latency: process 0 fills 200 keys, process 1 then reads each once (L1 empty, value in Redis);</item>
/// <item>a stampede: 250 concurrent callers of one cold key in each of the 4 processes, the function taking 200 ms;
/// the function calls are counted;</item>
/// <item>invalidation: processes 1-3 read a key every millisecond while process 0 changes the data and
/// invalidates it, 30 times; the time until each of the others serves the new value (a round gives up after 2 s).</item>
/// </list>
/// Printed as a Markdown table, and written as a report for build/bench-tables.py when AU_BENCH_OUT names a folder (build/bench.sh CacheFleet). The
/// first-level hit cost is measured in process by DistributedCacheBenchmarks (tests/AsyncUtils.Benchmarks).
/// </summary>
[Explicit("A benchmark against HybridCache and FusionCache (about a minute); run it alone: dotnet test tests/AsyncUtils.Caching.Redis.ProcessTests -c Release -f net10.0 --filter Name~CacheFleetBenchmark")]
public sealed class CacheFleetBenchmark
{
    private const int L2Keys = 200;
    private const int StampedeCallers = 250;
    private const int InvalidationRounds = 30;
    private static readonly TimeSpan RoundLimit = TimeSpan.FromSeconds(2);

    [Test]
    public async Task CacheFleetBenchmark_ours_against_HybridCache_and_FusionCache_on_4_processes()
    {
        using var server = RedisServer.Start();
        using ConnectionMultiplexer redis = await FleetCacheTests.ConnectAsync(server);
        var table = new StringBuilder();
        table.AppendLine("| Method | L2 hit p50 / p99 (ms) | function calls, 4-process stampede (4 x 250 callers) | invalidation seen by the other processes p50 / p99 (ms) | invalidations not seen within 2 s |");
        table.AppendLine("|---|---:|---:|---:|---:|");
        foreach (string impl in new[] { "ours", "hybrid", "fusion" })
        {
            await using CacheFleet fleet = await CacheFleet.StartAsync(server, processes: 4, lease: TimeSpan.FromSeconds(10), impl);

            // L2 hit: filled by process 0, read once per key by process 1.
            await fleet[0].WriteLineAsync($"fill {L2Keys} l2key");
            await fleet[0].WaitForLineStartingAsync("filled");
            await Task.Delay(200); // a write the anchors make in the background has landed
            await fleet[1].WriteLineAsync($"l2read {L2Keys} l2key");
            string l2 = await fleet[1].WaitForLineStartingAsync("l2read ");
            long[] l2Micros = [.. l2["l2read ".Length..].Split(',').Select(s => long.Parse(s, CultureInfo.InvariantCulture))];
            int l2Calls = Enumerable.Range(0, L2Keys).Count(i => fleet.Calls("l2key" + i.ToString(CultureInfo.InvariantCulture)).Any(c => c.Process == 1));

            // Stampede: every process's callers at once on a cold key.
            fleet.SetSource("stampede", "s1");
            string[] ids = new string[4];
            for (int i = 0; i < 4; i++)
            {
                ids[i] = await fleet.SendGetAsync(i, "stampede", StampedeCallers, delayMs: 200);
            }

            for (int i = 0; i < 4; i++)
            {
                await fleet.WaitGotAsync(i, ids[i]);
            }

            int stampedeCalls = fleet.Calls("stampede").Count;
            long redisCounted = await fleet.RedisCallsAsync(redis, "stampede");

            // Invalidation: processes 1-3 watch, process 0 changes the data and invalidates.
            fleet.SetSource("inv", "v0");
            await fleet.GetAsync(0, "inv");
            for (int i = 1; i < 4; i++)
            {
                await fleet[i].WriteLineAsync("watch inv");
                await FleetCacheTests.WaitSeenAsync(fleet, i, "inv", "v0");
            }

            var delays = new List<long>();
            int missed = 0;
            int rounds = 0;
            for (int round = 1; round <= InvalidationRounds; round++)
            {
                rounds++;
                string value = "v" + round.ToString(CultureInfo.InvariantCulture);
                fleet.SetSource("inv", value);
                (long invalidating, _) = await fleet.InvalidateAsync(0, "inv");
                var deadline = System.Diagnostics.Stopwatch.StartNew();
                bool[] seen = new bool[4];
                while (deadline.Elapsed < RoundLimit && !(seen[1] && seen[2] && seen[3]))
                {
                    for (int i = 1; i < 4; i++)
                    {
                        if (!seen[i] && fleet.Seen(i, "inv").FirstOrDefault(s => s.Value == value) is { Value: not null } s)
                        {
                            seen[i] = true;
                            delays.Add(s.Micros - invalidating);
                        }
                    }

                    await Task.Delay(2);
                }

                missed += seen.Skip(1).Count(x => !x);
                if (delays.Count == 0 && round >= 3)
                {
                    break; // never reaches the other processes: three rounds say so
                }
            }

            string propagation = delays.Count == 0
                ? "never (until L1 expiry)"
                : $"{Ms(FleetResultPercentile(delays, 0.5))} / {Ms(FleetResultPercentile(delays, 0.99))}";
            string name = impl switch
            {
                "ours" => "ours: DistributedTaskCache + RedisSecondLevelCache",
                "hybrid" => "HybridCache 10.4 + Redis IDistributedCache",
                _ => "FusionCache 2.9 + Redis distributed cache + Redis backplane",
            };
            table.AppendLine(CultureInfo.InvariantCulture,
                $"| {name} | {Ms(FleetResultPercentile(l2Micros, 0.5))} / {Ms(FleetResultPercentile(l2Micros, 0.99))} " +
                $"| {stampedeCalls} | {propagation} | {missed} of {3 * rounds} |");
            await TestContext.Progress.WriteLineAsync(
                $"{impl}: L2 reads that called the function {l2Calls} of {L2Keys}; stampede calls printed {stampedeCalls}, counted in Redis {redisCounted}; " +
                $"invalidation observations {delays.Count}, missed {missed}");
            if (impl == "ours")
            {
                Assert.Multiple(() =>
                {
                    Assert.That(l2Calls, Is.Zero, "ours: an L2 hit called the function");
                    Assert.That(stampedeCalls, Is.EqualTo(1), "ours: one call for the fleet");
                    Assert.That(missed, Is.Zero, "ours: an invalidation did not reach a process");
                });
            }
        }

        string text = table.ToString();
        await TestContext.Progress.WriteLineAsync(text);
        await TestContext.Out.WriteLineAsync(text);
        string? written = BenchmarkReport.Write("CacheFleetBenchmarks", $"the CacheFleetBenchmark test (redis-server {redis.GetServers()[0].Version} on loopback)", text);
        if (written is not null)
        {
            await TestContext.Progress.WriteLineAsync($"Report written to {written}");
        }
    }

    private static string Ms(double micros) => (micros / 1000).ToString("0.00", CultureInfo.InvariantCulture);

    /// <summary>The <paramref name="p"/>-quantile (0..1), nearest rank.</summary>
    private static double FleetResultPercentile(IReadOnlyList<long> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        long[] sorted = [.. values.Order()];
        int rank = (int)Math.Ceiling(p * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }
}
