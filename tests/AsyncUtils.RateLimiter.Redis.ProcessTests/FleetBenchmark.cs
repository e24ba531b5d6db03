using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using AsyncUtils.Testing;
using StackExchange.Redis;

namespace AsyncUtils.Tests;

/// <summary>
/// The comparison with RedisRateLimiting 1.2.1 from issue 13, on real processes and one real
/// redis-server in the same run: 4 processes x 4 callers, 100 per second, 5 s, with synchronised
/// clocks and with one process's clock 0.5 s fast. Printed as a Markdown table.
/// <para>
/// Why a test that starts processes rather than BenchmarkDotNet: what is measured is a fleet of
/// processes sharing one limit over seconds (grants, round trips, windows counted on the server's
/// decision times), not the cost of one in-process call; BenchmarkDotNet's repeated in-process
/// iterations cannot express N processes with separate connections and skewed clocks. Each run here
/// is one fresh set of processes on a fresh limiter name. Round trips are counted in the workers
/// (RequestCounter: the server's <c>INFO commandstats</c> also counts the commands a Lua script runs,
/// so it cannot tell them apart; it is printed to the log for reference).
/// </para>
/// <para>
/// With the environment variable <c>AU_BENCH_OUT</c> set to a folder, the table is also written there
/// as <c>AsyncUtils.Benchmarks.FleetBenchmarks-report-github.md</c>, in the shape of a BenchmarkDotNet
/// GitHub report, which build/bench-tables.py imports into benchmarks/results/FleetBenchmarks.md and
/// the <c>&lt;!-- bench: FleetBenchmarks --&gt;</c> tables are generated from: <c>bash build/bench.sh Fleet</c>.
/// </para>
/// </summary>
[Explicit("A 30-second benchmark against RedisRateLimiting; run it alone: dotnet test tests/AsyncUtils.RateLimiter.Redis.ProcessTests -c Release -f net10.0 --filter Name~Benchmark")]
public sealed class FleetBenchmark
{
    [Test]
    public async Task Benchmark_against_RedisRateLimiting_4_processes_x_4_callers_100_per_second()
    {
        const int limit = 100;
        TimeSpan window = TimeSpan.FromSeconds(1);
        TimeSpan duration = TimeSpan.FromSeconds(5);
        using var server = RedisServer.Start();
        using ConnectionMultiplexer admin = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString + ",allowAdmin=true");
        IServer redis = admin.GetServers()[0];

        var table = new StringBuilder();
        table.AppendLine("| Method | grants/s | limiter calls per grant | Redis round trips per grant | p50 / p99 call (ms) | p50 / p99 wait for a grant (ms) | worst 1-s window (limit 100) |");
        table.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        (string Mode, int Skew)[] runs =
        [
            ("ours", 0), ("ours", 500), ("redisratelimiting", 0), ("redisratelimiting", 500), ("redisratelimiting-unprobed", 0),
        ];
        foreach ((string mode, int skew) in runs)
        {
            await redis.ExecuteAsync("CONFIG", "RESETSTAT");
            FleetResult result = await Fleet.RunAsync(server, mode, RedisFixture.UniqueName("bench"), limit, window,
                callers: 4, duration, skewsMs: [skew, 0, 0, 0]);
            string breakdown = ServerCommands(await redis.ExecuteAsync("INFO", "commandstats"));
            bool unprobed = mode == "redisratelimiting-unprobed";
            string worst = unprobed ? "n/a (no decision times)" : result.WorstWindow(window).Count.ToString(CultureInfo.InvariantCulture);
            double grants = result.Grants.Count;
            long[] waits = [.. result.Grants.Select(g => g.WaitMicros)];
            string limiter = mode switch
            {
                "ours" => "RedisSlidingLogRateLimiter",
                "redisratelimiting" => "RedisRateLimiting 1.2.1 sliding window",
                _ => "RedisRateLimiting 1.2.1 without the probe",
            };
            table.AppendLine(CultureInfo.InvariantCulture,
                $"| {limiter}, {(skew == 0 ? "clocks synchronised" : "one clock 0.5 s fast")} " +
                $"| {grants / duration.TotalSeconds:0} | {result.Calls / grants:0.00} | {result.Requests / grants:0.00} " +
                $"| {Ms(FleetResult.Percentile(result.CallLatencyMicros, 0.5))} / {Ms(FleetResult.Percentile(result.CallLatencyMicros, 0.99))} " +
                $"| {Ms(FleetResult.Percentile(waits, 0.5))} / {Ms(FleetResult.Percentile(waits, 0.99))} | {worst} |");
            await TestContext.Progress.WriteLineAsync($"{mode} skew {skew}: {result.Describe(window)}; server commands (script-internal ones included): {breakdown}");
            if (mode == "ours")
            {
                FleetExactnessTests.AssertExact(result, limit, window);
            }
        }

        await TestContext.Progress.WriteLineAsync(table.ToString());
        await TestContext.Out.WriteLineAsync(table.ToString());
        string? written = BenchmarkReport.Write("FleetBenchmarks", $"the FleetBenchmark test (redis-server {redis.Version} on loopback)", table.ToString());
        if (written is not null)
        {
            await TestContext.Progress.WriteLineAsync($"Report written to {written}");
        }
    }

    private static string Ms(double micros) => (micros / 1000).ToString("0.0", CultureInfo.InvariantCulture);

    /// <summary>The calls per command in <c>INFO commandstats</c> (lines <c>cmdstat_NAME:calls=N,...</c>), for the log.</summary>
    private static string ServerCommands(RedisResult info)
    {
        var breakdown = new StringBuilder();
        foreach (string line in ((string)info!).Split('\n'))
        {
            if (!line.StartsWith("cmdstat_", StringComparison.Ordinal))
            {
                continue;
            }

            string name = line["cmdstat_".Length..line.IndexOf(':', StringComparison.Ordinal)];
            string calls = line.Split(':')[1].Split(',')[0];
            long count = long.Parse(calls["calls=".Length..], CultureInfo.InvariantCulture);
            breakdown.Append(CultureInfo.InvariantCulture, $"{name}={count} ");
        }

        return breakdown.ToString();
    }
}
