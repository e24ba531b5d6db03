namespace AsyncUtils.Tests;

/// <summary>
/// The checks the process tests rest on: the worst-window count over server decision times, and that
/// the whole harness (processes, probe, parsing, count) does catch an over-granting limiter.
/// </summary>
public sealed class WindowCountTests
{
    [Test]
    public void Worst_window_tries_every_position_and_treats_the_window_as_half_open()
    {
        long[] times = [0, 100, 900, 1000, 1050, 1099, 1950, 2100];

        // 1000 µs: [100, 1100) holds 100, 900, 1000, 1050, 1099, but [0, 1000) leaves out 1000.
        // 900 µs: [900, 1800) holds 900, 1000, 1050, 1099.
        Assert.That(FleetResult.WorstWindow(times, TimeSpan.FromMilliseconds(1)), Is.EqualTo((5, 100L)));
        Assert.That(FleetResult.WorstWindow(times, TimeSpan.FromTicks(9000)), Is.EqualTo((4, 900L)));
        Assert.That(FleetResult.WorstWindow([], TimeSpan.FromSeconds(1)), Is.EqualTo((0, 0L)));
        Assert.That(FleetResult.WorstWindow([5, 5, 5], TimeSpan.FromTicks(10)), Is.EqualTo((3, 5L)));
    }

    /// <summary>
    /// RedisRateLimiting 1.2.1 stamps each grant with the client's clock before the round trip, so a
    /// process whose clock runs 0.5 s fast trims the others' grants early and takes their room. This
    /// test is the harness's own check: the same processes, probe and count that the exactness tests
    /// use must see that over-grant, or they could not see ours either.
    /// </summary>
    [Test]
    public async Task The_harness_catches_a_client_clock_limiter_over_granting_when_one_process_clock_runs_fast()
    {
        const int limit = 50;
        TimeSpan window = TimeSpan.FromSeconds(1);

        FleetResult result = await Fleet.RunAsync(RedisFixture.Server, "redisratelimiting", RedisFixture.UniqueName("rrl-skew"),
            limit, window, callers: 4, duration: TimeSpan.FromSeconds(3), skewsMs: [500, 0, 0, 0]);

        (int worst, _) = result.WorstWindow(window);
        Assert.That(result.Grants, Has.Count.GreaterThan(limit), result.Describe(window));
        Assert.That(worst, Is.GreaterThan(limit), "expected the known over-grant; " + result.Describe(window));
        Assert.That(result.Grants.Select(g => g.ServerMicros), Has.All.GreaterThan(0), "every grant must carry its server decision time");
    }
}
