using AsyncUtils.Testing;

namespace AsyncUtils.Tests;

/// <summary>
/// "At most L in any window W" for RedisSlidingLogRateLimiter across real processes, each with its
/// own connection and clock, counted on the server's decision times
/// (<see cref="RedisRateLimitMetadata.GrantedAt"/>) over every window position.
/// </summary>
public sealed class FleetExactnessTests
{
    [Test]
    public async Task Four_processes_never_grant_more_than_the_limit_in_any_window_and_keep_it_busy()
    {
        const int limit = 40;
        TimeSpan window = TimeSpan.FromSeconds(1);
        TimeSpan duration = TimeSpan.FromSeconds(3);

        FleetResult result = await Fleet.RunAsync(RedisFixture.Server, "ours", RedisFixture.UniqueName("exact"),
            limit, window, callers: 4, duration, skewsMs: [0, 0, 0, 0]);

        AssertExact(result, limit, window);
        AssertBusy(result, limit, window, duration);
        AssertNoPolling(result, processes: 4);
    }

    [Test]
    public async Task One_process_clock_half_a_second_fast_and_another_slow_do_not_break_exactness()
    {
        const int limit = 40;
        TimeSpan window = TimeSpan.FromSeconds(1);
        TimeSpan duration = TimeSpan.FromSeconds(3);

        // The same load that makes RedisRateLimiting over-grant (WindowCountTests).
        FleetResult result = await Fleet.RunAsync(RedisFixture.Server, "ours", RedisFixture.UniqueName("skew"),
            limit, window, callers: 4, duration, skewsMs: [500, 0, 0, -300]);

        AssertExact(result, limit, window);
        AssertBusy(result, limit, window, duration);

        // A skewed clock only moves a process's local timers (converted through the measured offset),
        // so it does not starve the process. An equal share is not promised: the queue is FIFO in
        // order of arrival at the server, and the process whose call serves the queue learns of its
        // grants first and re-enters first (one run gave 75 of 120 grants to one unskewed process).
        for (int process = 0; process < 4; process++)
        {
            Assert.That(result.Grants.Count(g => g.Process == process), Is.GreaterThanOrEqualTo(result.Grants.Count / 20),
                $"process {process} was starved: " + result.Describe(window));
        }
    }

    [Test]
    public async Task Several_windows_hold_together_across_processes()
    {
        // 8 per 200 ms and 25 per second: the short window allows 40 a second, the long one 25.
        TimeSpan duration = TimeSpan.FromSeconds(3);
        FleetResult result = await Fleet.RunAsync(RedisFixture.Server, "ours", RedisFixture.UniqueName("multi"),
            "8,25", "200,1000", callers: 3, duration, skewsMs: [0, 250, 0]);

        AssertExact(result, 8, TimeSpan.FromMilliseconds(200));
        AssertExact(result, 25, TimeSpan.FromSeconds(1));
        AssertBusy(result, 25, TimeSpan.FromSeconds(1), duration);
    }

    /// <summary>
    /// Redis killed and restarted empty (no persistence) mid-run. The stated bound with the default
    /// quarantine is zero over-grant: the restarted server refuses every grant for one longest window.
    /// No waiter is stuck: grants resume after the quarantine and no caller is still waiting at the end
    /// for longer than the outage, the quarantine and the queue ahead of it explain.
    /// </summary>
    [Test]
    public async Task Redis_restarted_mid_run_over_grants_nothing_and_strands_no_waiter()
    {
        const int limit = 20;
        TimeSpan window = TimeSpan.FromSeconds(1);
        TimeSpan duration = TimeSpan.FromSeconds(5);
        using var server = RedisServer.Start();
        long killedAt = 0;
        long restartedAt = 0;

        FleetResult result = await Fleet.RunAsync(server, "ours", RedisFixture.UniqueName("restart"),
            limit, window, callers: 3, duration, skewsMs: [0, 0, 0],
            during: async () =>
            {
                await Task.Delay(TimeSpan.FromSeconds(1.5));
                killedAt = UnixMicrosNow();
                await Task.Run(server.Restart);
                restartedAt = UnixMicrosNow(); // the new server answers PING: any later grant is its own
            });

        await TestContext.Out.WriteLineAsync($"killed at {killedAt} µs, restarted at {restartedAt} µs; {result.Describe(window)}");
        AssertExact(result, limit, window);
        long[] after = [.. result.Times.Where(t => t > restartedAt)];
        Assert.That(after, Is.Not.Empty, "no grant after the restart: " + result.Describe(window));
        Assert.That(after[0] - killedAt, Is.GreaterThanOrEqualTo(window.Ticks / 10),
            "the first grant of the new server must wait out the quarantine of one window from its start (which came after the kill)");
        Assert.That(result.Times[^1], Is.GreaterThan(restartedAt + (2 * window.Ticks / 10)),
            "grants must go on after the quarantine: " + result.Describe(window));

        // A caller still waiting at the end has waited at most for the queue ahead of it (9 callers at 20
        // a second) plus some slack; one stuck since the restart would have waited 3.5 s.
        long longest = result.Unfinished.Count == 0 ? 0 : result.Unfinished.Max(u => u.WaitMicros);
        Assert.That(longest, Is.LessThan(2_000_000), "a waiter is stuck: " + result.Describe(window));
    }

    private static long UnixMicrosNow() => (DateTimeOffset.UtcNow.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;

    internal static void AssertExact(FleetResult result, int limit, TimeSpan window)
    {
        Assert.That(result.Grants.Select(g => g.ServerMicros), Has.All.GreaterThan(0), "every grant must carry GrantedAt");
        (int worst, long start) = result.WorstWindow(window);
        Assert.That(worst, Is.LessThanOrEqualTo(limit),
            $"{worst} grants in the window of {window.TotalMilliseconds} ms from {start} µs; " + result.Describe(window));
    }

    /// <summary>
    /// Round trips: one per grant, plus at most one more for a request that had to queue (its timer's
    /// call when its turn comes) and one to take a cancelled waiter out of the queue, plus a few per
    /// process to set up (script load, subscription). Polling would be many times that.
    /// </summary>
    private static void AssertNoPolling(FleetResult result, int processes)
    {
        long bound = (2L * (result.Grants.Count + result.Unfinished.Count)) + (8L * processes);
        Assert.That(result.Requests, Is.LessThanOrEqualTo(bound), "more round trips than one per grant and one per queued waiter: " + result.Describe(TimeSpan.FromSeconds(1)));
    }

    private static void AssertBusy(FleetResult result, int limit, TimeSpan window, TimeSpan duration)
    {
        // Liveness: the fleet must use most of what the limit allows (it never waits on a wrong clock).
        double allowed = limit * (duration / window);
        Assert.That(result.Grants, Has.Count.GreaterThanOrEqualTo((int)(allowed * 0.75)), result.Describe(window));
        Assert.That(result.Errors, Is.Empty);
    }
}
