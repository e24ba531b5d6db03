using System.Globalization;
using AsyncUtils.Testing;
using StackExchange.Redis;

namespace AsyncUtils.Tests;

/// <summary>
/// <see cref="RedisSecondLevelCache"/> under <see cref="DistributedTaskCache{TValue}"/> across real
/// processes (each with its own connection) and a real redis-server: one call per key for the fleet,
/// the backplane's staleness bound, invalidation that wins over a call under way in another process,
/// a Redis restart, a slow owner and a dead one. Times are real system time on one machine.
/// </summary>
public sealed class FleetCacheTests
{
    // An invalidation reaches the other processes in one script round trip plus a pub/sub delivery
    // plus the watcher's 1 ms poll and a re-read (about a millisecond or two here); the bound leaves
    // room for a loaded machine.
    private const long StalenessBoundMicros = 250_000;

    [Test]
    public async Task A_thousand_callers_over_four_processes_run_the_function_once()
    {
        using ConnectionMultiplexer redis = await ConnectAsync(RedisFixture.Server);
        await using CacheFleet fleet = await CacheFleet.StartAsync(RedisFixture.Server, processes: 4, lease: TimeSpan.FromSeconds(10));
        fleet.SetSource("k", "v1");

        // 250 callers in each process at once; the call takes 300 ms, so all of them arrive during it.
        string[] ids = new string[4];
        for (int i = 0; i < 4; i++)
        {
            ids[i] = await fleet.SendGetAsync(i, "k", callers: 250, delayMs: 300);
        }

        for (int i = 0; i < 4; i++)
        {
            (Dictionary<string, int> values, _) = await fleet.WaitGotAsync(i, ids[i]);
            Assert.That(values, Is.EquivalentTo(new Dictionary<string, int> { ["v1"] = 250 }), fleet[i].Label);
        }

        Assert.Multiple(async () =>
        {
            Assert.That(fleet.Calls("k"), Has.Count.EqualTo(1), "calls printed by the processes");
            Assert.That(await fleet.RedisCallsAsync(redis, "k"), Is.EqualTo(1), "calls counted in Redis");
        });
    }

    [Test]
    public async Task An_invalidation_in_one_process_reaches_the_other_processes_within_the_staleness_bound_and_no_old_value_comes_back()
    {
        const int rounds = 10;
        await using CacheFleet fleet = await CacheFleet.StartAsync(RedisFixture.Server, processes: 4, lease: TimeSpan.FromSeconds(10));
        fleet.SetSource("k", "v0");
        Assert.That(await fleet.GetAsync(0, "k"), Is.EqualTo("v0"));
        for (int i = 1; i < 4; i++)
        {
            await fleet[i].WriteLineAsync("watch k");
            await WaitSeenAsync(fleet, i, "k", "v0");
        }

        var delays = new List<long>();
        for (int round = 1; round <= rounds; round++)
        {
            string value = "v" + round.ToString(CultureInfo.InvariantCulture);
            fleet.SetSource("k", value);
            (long invalidating, bool confirmed) = await fleet.InvalidateAsync(0, "k");
            Assert.That(confirmed, Is.True, "Redis confirmed the invalidation");
            for (int i = 1; i < 4; i++)
            {
                long seen = await WaitSeenAsync(fleet, i, "k", value);
                delays.Add(seen - invalidating);
            }
        }

        delays.Sort();
        await TestContext.Out.WriteLineAsync(
            $"invalidation seen by the other processes after (ms): p50 {delays[delays.Count / 2] / 1000.0}, max {delays[^1] / 1000.0} " +
            $"({delays.Count} observations; bound {StalenessBoundMicros / 1000} ms)");
        Assert.Multiple(() =>
        {
            Assert.That(delays[^1], Is.LessThan(StalenessBoundMicros), "the slowest process saw the invalidation late");
            for (int i = 1; i < 4; i++)
            {
                // Every watcher went through v0, v1, ... in order: no value ever came back after a newer one.
                string[] sequence = [.. fleet.Seen(i, "k").Select(s => s.Value)];
                Assert.That(sequence, Is.EqualTo(Enumerable.Range(0, rounds + 1).Select(r => "v" + r.ToString(CultureInfo.InvariantCulture))), fleet[i].Label);
            }

            // One call per round for the whole fleet (the first read included).
            Assert.That(fleet.Calls("k"), Has.Count.EqualTo(rounds + 1));
        });
    }

    [Test]
    public async Task A_slow_call_started_before_Invalidate_in_another_process_never_writes_its_stale_value_and_every_process_ends_on_the_new_one()
    {
        using ConnectionMultiplexer redis = await ConnectAsync(RedisFixture.Server);
        await using CacheFleet fleet = await CacheFleet.StartAsync(RedisFixture.Server, processes: 3, lease: TimeSpan.FromSeconds(10));
        fleet.SetSource("k", "old");

        // Process 0 starts a slow call that reads "old"; process 1 then changes the data and invalidates.
        string slow = await fleet.SendGetAsync(0, "k", callers: 1, delayMs: 1000);
        await fleet[0].WaitForLineStartingAsync("called k old ");
        fleet.SetSource("k", "new");
        (_, bool confirmed) = await fleet.InvalidateAsync(1, "k");
        Assert.That(confirmed, Is.True);

        // The slow call's own callers get what it computed; it must not store it.
        (Dictionary<string, int> slowValues, _) = await fleet.WaitGotAsync(0, slow);
        Assert.That(slowValues.Keys, Is.EqualTo(new[] { "old" }));
        Assert.That(await fleet.StoredValueAsync(redis, "k"), Is.Not.EqualTo("old"), "the stale value was written to Redis");

        Assert.Multiple(async () =>
        {
            for (int i = 0; i < 3; i++)
            {
                Assert.That(await fleet.GetAsync(i, "k"), Is.EqualTo("new"), fleet[i].Label);
            }

            Assert.That(await fleet.StoredValueAsync(redis, "k"), Is.EqualTo("new"));
            Assert.That(fleet.Calls("k").Select(c => c.Value), Is.EqualTo(new[] { "old", "new" }), "one slow call, then one call for the whole fleet");
        });
    }

    [Test]
    public async Task With_Redis_restarted_mid_run_the_processes_serve_from_L1_then_recover_and_never_serve_the_old_value_again()
    {
        using var server = RedisServer.Start();
        await using CacheFleet fleet = await CacheFleet.StartAsync(server, processes: 2, lease: TimeSpan.FromSeconds(10));
        fleet.SetSource("k", "v1");
        Assert.That(await fleet.GetAsync(0, "k"), Is.EqualTo("v1"));
        Assert.That(await fleet.GetAsync(1, "k"), Is.EqualTo("v1"));
        Assert.That(fleet.Calls("k"), Has.Count.EqualTo(1), "process 1 read process 0's value from Redis");

        server.Kill();

        // Down: both keep serving from L1, at once and without calling.
        Assert.That(await fleet.GetAsync(0, "k", TimeSpan.FromSeconds(2)), Is.EqualTo("v1"));
        Assert.That(await fleet.GetAsync(1, "k", TimeSpan.FromSeconds(2)), Is.EqualTo("v1"));
        Assert.That(fleet.Calls("k"), Has.Count.EqualTo(1));

        // The data changes while Redis is down: the invalidation reaches only the local L1 (documented);
        // process 1 cannot hear of it and serves its old copy until Redis returns.
        fleet.SetSource("k", "v2");
        (_, bool confirmed) = await fleet.InvalidateAsync(0, "k");
        Assert.That(confirmed, Is.False, "Redis is down: the invalidation was not confirmed");
        Assert.That(await fleet.GetAsync(0, "k", TimeSpan.FromSeconds(2)), Is.EqualTo("v2"), "process 0 called for itself");
        Assert.That(await fleet.GetAsync(1, "k", TimeSpan.FromSeconds(2)), Is.EqualTo("v1"), "process 1 still serves its L1 copy");

        server.Restart();

        // Back: the reconnection clears every L1 (messages were lost), so process 1 re-reads and gets v2.
        var recovery = System.Diagnostics.Stopwatch.StartNew();
        string served;
        do
        {
            served = await fleet.GetAsync(1, "k");
            if (served != "v2")
            {
                await Task.Delay(50);
            }
        }
        while (served != "v2" && recovery.Elapsed < TimeSpan.FromSeconds(20));

        await TestContext.Out.WriteLineAsync($"process 1 served the new value {recovery.ElapsedMilliseconds} ms after the restart");
        Assert.That(served, Is.EqualTo("v2"), "process 1 did not recover within 20 s of the restart");

        // After recovery nothing serves the old value: not the two processes, not a process started now,
        // and the fleet is coordinated again (Redis holds the value, an invalidation reaches the others).
        using ConnectionMultiplexer redis = await ConnectAsync(server);
        AppProcess late = fleet.Add();
        await late.WaitForLineStartingAsync("ready");
        for (int repeat = 0; repeat < 5; repeat++)
        {
            for (int i = 0; i < 3; i++)
            {
                Assert.That(await fleet.GetAsync(i, "k"), Is.EqualTo("v2"), $"{fleet[i].Label}, read {repeat}");
            }
        }

        Assert.That(await fleet.StoredValueAsync(redis, "k"), Is.EqualTo("v2"));
        fleet.SetSource("k", "v3");
        (_, confirmed) = await fleet.InvalidateAsync(2, "k");
        Assert.That(confirmed, Is.True);
        for (int i = 0; i < 3; i++)
        {
            Assert.That(await fleet.GetAsync(i, "k"), Is.EqualTo("v3"), fleet[i].Label);
        }
    }

    [Test]
    public async Task An_invalidation_made_while_Redis_was_unreachable_is_not_undone_when_Redis_returns_with_its_data()
    {
        // Redis persisted its data (or a network partition healed, or a replica took over): it comes back
        // holding the value that an invalidation made during the outage was meant to remove.
        using var server = RedisServer.Start();
        await using CacheFleet fleet = await CacheFleet.StartAsync(server, processes: 2, lease: TimeSpan.FromSeconds(10));
        fleet.SetSource("k", "v1");
        Assert.That(await fleet.GetAsync(0, "k"), Is.EqualTo("v1"));
        Assert.That(await fleet.GetAsync(1, "k"), Is.EqualTo("v1"));
        Assert.That(server.Command("SAVE"), Is.EqualTo("+OK"));
        server.Kill();

        fleet.SetSource("k", "v2");
        (_, bool confirmed) = await fleet.InvalidateAsync(0, "k");
        Assert.That(confirmed, Is.False, "Redis is unreachable: the invalidation was not confirmed");
        Assert.That(await fleet.GetAsync(0, "k", TimeSpan.FromSeconds(2)), Is.EqualTo("v2"));

        server.Restart(); // loads the saved data: Redis still holds v1
        for (int i = 0; i < 2; i++)
        {
            await fleet[i].WaitForLineStartingAsync("restored ", TimeSpan.FromSeconds(20));
        }

        await Task.Delay(500); // the reconnection has cleared every L1
        using ConnectionMultiplexer redis = await ConnectAsync(server);
        await TestContext.Out.WriteLineAsync($"Redis holds {await fleet.StoredValueAsync(redis, "k")} after the restart");
        Assert.Multiple(async () =>
        {
            Assert.That(await fleet.GetAsync(0, "k"), Is.EqualTo("v2"), "the process that invalidated k serves the value it invalidated");
            Assert.That(await fleet.GetAsync(1, "k"), Is.EqualTo("v2"), "the other process serves the invalidated value");
        });
    }

    [Test]
    public async Task A_call_that_outlives_its_lease_keeps_it_renewed_so_the_function_runs_once_and_the_other_process_waits_for_it()
    {
        // The owner renews its lease every third of LeaseDuration while its call runs (RedisSecondLevelCache
        // remarks), so a call three times longer than the lease is still the only one: the waiting process
        // re-checks when the lease's remaining time elapses, finds it held, and waits again.
        using ConnectionMultiplexer redis = await ConnectAsync(RedisFixture.Server);
        TimeSpan lease = TimeSpan.FromMilliseconds(400);
        await using CacheFleet fleet = await CacheFleet.StartAsync(RedisFixture.Server, processes: 2, lease);
        fleet.SetSource("k", "v1");

        string slow = await fleet.SendGetAsync(0, "k", callers: 1, delayMs: 1500);
        await fleet[0].WaitForLineStartingAsync("called k ");
        string waiting = await fleet.SendGetAsync(1, "k", callers: 10, delayMs: 0);
        (Dictionary<string, int> waitingValues, TimeSpan waited) = await fleet.WaitGotAsync(1, waiting);
        (Dictionary<string, int> slowValues, _) = await fleet.WaitGotAsync(0, slow);

        await TestContext.Out.WriteLineAsync($"process 1 waited {waited.TotalMilliseconds:0} ms (lease {lease.TotalMilliseconds} ms, slow call 1500 ms)");
        Assert.Multiple(async () =>
        {
            Assert.That(waitingValues, Is.EquivalentTo(new Dictionary<string, int> { ["v1"] = 10 }));
            Assert.That(slowValues, Is.EquivalentTo(new Dictionary<string, int> { ["v1"] = 1 }));
            Assert.That(fleet.Calls("k").Select(c => c.Process), Is.EqualTo(new[] { 0 }), "only the owner called: nobody took its renewed lease");
            Assert.That(await fleet.RedisCallsAsync(redis, "k"), Is.EqualTo(1));
            Assert.That(waited, Is.GreaterThan(TimeSpan.FromMilliseconds(1000)), "process 1 waited for the slow call, well past one lease");
            Assert.That(await fleet.StoredValueAsync(redis, "k"), Is.EqualTo("v1"));
        });
    }

    [Test]
    public async Task A_killed_owner_s_lease_expires_and_another_process_runs_the_function_exactly_once_more()
    {
        using ConnectionMultiplexer redis = await ConnectAsync(RedisFixture.Server);
        TimeSpan lease = TimeSpan.FromSeconds(1);
        await using CacheFleet fleet = await CacheFleet.StartAsync(RedisFixture.Server, processes: 4, lease);
        fleet.SetSource("k", "v1");

        // Process 0 owns the call (it would take 30 s) and is killed in the middle of it.
        await fleet.SendGetAsync(0, "k", callers: 1, delayMs: 30_000);
        await fleet[0].WaitForLineStartingAsync("called k ");
        string[] ids = new string[4];
        for (int i = 1; i < 4; i++)
        {
            ids[i] = await fleet.SendGetAsync(i, "k", callers: 50, delayMs: 200);
        }

        await Task.Delay(100);
        fleet[0].Kill();
        await fleet[0].WaitForExitAsync();

        for (int i = 1; i < 4; i++)
        {
            (Dictionary<string, int> values, TimeSpan waited) = await fleet.WaitGotAsync(i, ids[i]);
            Assert.That(values, Is.EquivalentTo(new Dictionary<string, int> { ["v1"] = 50 }), fleet[i].Label);
            Assert.That(waited, Is.LessThan(lease + TimeSpan.FromSeconds(3)), $"{fleet[i].Label} waited {waited}");
        }

        List<(int Process, string Value, long Micros)> calls = fleet.Calls("k");
        Assert.Multiple(async () =>
        {
            Assert.That(calls, Has.Count.EqualTo(2), "the dead owner's call and exactly one take-over");
            Assert.That(calls[0].Process, Is.Zero);
            Assert.That(await fleet.RedisCallsAsync(redis, "k"), Is.EqualTo(2));
            Assert.That(await fleet.StoredValueAsync(redis, "k"), Is.EqualTo("v1"));
        });
        long takeOver = calls.Single(c => c.Process != 0).Micros - calls[0].Micros;
        await TestContext.Out.WriteLineAsync($"the take-over call started {takeOver / 1000.0} ms after the dead owner's (lease {lease.TotalMilliseconds} ms)");
        Assert.That(takeOver, Is.GreaterThan((long)lease.TotalMicroseconds * 9 / 10), "nobody took over before the lease expired");
    }

    internal static async Task<ConnectionMultiplexer> ConnectAsync(RedisServer server) =>
        await ConnectionMultiplexer.ConnectAsync(server.ConnectionString);

    /// <summary>Waits until process <paramref name="index"/>'s watcher printed <c>seen KEY VALUE</c>; returns its time.</summary>
    internal static async Task<long> WaitSeenAsync(CacheFleet fleet, int index, string key, string value, TimeSpan? within = null)
    {
        string line = await fleet[index].WaitForLineStartingAsync($"seen {key} {value} ", within);
        return long.Parse(line.Split(' ')[3], CultureInfo.InvariantCulture);
    }
}
