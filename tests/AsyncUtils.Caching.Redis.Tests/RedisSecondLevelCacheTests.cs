using System.Collections.Concurrent;
using System.Diagnostics;
using AsyncUtils.Testing;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace AsyncUtils.Caching.Redis.Tests;

/// <summary>
/// Each test gets its own redis-server and simulates processes with separate <see cref="ConnectionMultiplexer"/>
/// instances, each with its own <see cref="RedisSecondLevelCache"/> and cache.
/// </summary>
public sealed class RedisSecondLevelCacheTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private readonly List<IDisposable> _disposables = [];
    private RedisServer _server = null!;
    private string _prefix = null!;

    [SetUp]
    public void StartServer()
    {
        _server = RedisServer.Start();
        _prefix = "t" + Guid.NewGuid().ToString("N")[..8] + ":";
    }

    [TearDown]
    public void StopServer()
    {
        for (int i = _disposables.Count - 1; i >= 0; i--)
        {
            _disposables[i].Dispose();
        }

        _disposables.Clear();
        _server.Dispose();
    }

    private async Task<(DistributedTaskCache<string> Cache, RedisSecondLevelCache Level, ConnectionMultiplexer Connection)> ProcessAsync(
        TimeSpan? lease = null, ConcurrentQueue<Exception>? failures = null, int? maxPendingInvalidations = null)
    {
        ConnectionMultiplexer connection = await ConnectionMultiplexer.ConnectAsync(_server.ConnectionString);
        _disposables.Add(connection);
        var level = maxPendingInvalidations is { } max
            ? new RedisSecondLevelCache(connection, new RedisSecondLevelCacheOptions { KeyPrefix = _prefix, LeaseDuration = lease ?? TimeSpan.FromSeconds(30), MaxPendingInvalidations = max })
            : new RedisSecondLevelCache(connection, _prefix, lease);
        _disposables.Add(level);
        var cache = new DistributedTaskCache<string>(
            level,
            new DistributedCacheOptions<string> { TimeToLive = TimeSpan.FromMinutes(5), SecondLevelFailed = (_, e) => failures?.Enqueue(e) });
        _disposables.Add(cache);
        await WaitSubscribedAsync(connection);
        return (cache, level, connection);
    }

    private async Task WaitSubscribedAsync(ConnectionMultiplexer connection)
    {
        var deadline = Stopwatch.StartNew();
        while ((await connection.GetSubscriber().PublishAsync(RedisChannel.Literal(_prefix + "events"), "ping")) == 0 && deadline.Elapsed < Patience)
        {
            await Task.Delay(10);
        }
    }

    private async Task<bool> ExistsAsync(string key)
    {
        using ConnectionMultiplexer probe = await ConnectionMultiplexer.ConnectAsync(_server.ConnectionString);
        return await probe.GetDatabase().KeyExistsAsync(_prefix + "{" + key + "}");
    }

    private async Task<string?> StoredAsync(string key)
    {
        using ConnectionMultiplexer probe = await ConnectionMultiplexer.ConnectAsync(_server.ConnectionString);
        return await probe.GetDatabase().StringGetAsync(_prefix + "{" + key + "}");
    }

    private static async Task EventuallyAsync(Func<bool> condition, string because)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > Patience)
            {
                Assert.Fail(because);
            }

            await Task.Delay(10);
        }
    }

    [Test]
    public async Task Two_hundred_callers_over_four_processes_run_the_function_once()
    {
        var processes = new List<DistributedTaskCache<string>>();
        for (int i = 0; i < 4; i++)
        {
            processes.Add((await ProcessAsync()).Cache);
        }

        int calls = 0;
        using var start = new ManualResetEventSlim();
        Task<string>[] callers = [.. Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
        {
            start.Wait();
            return await processes[i % 4].GetOrAddAsync("k", async (_, ct) =>
            {
                Interlocked.Increment(ref calls);
                await Task.Delay(300, ct);
                return "value";
            });
        }))];
        start.Set();
        string[] results = await Task.WhenAll(callers).WaitAsync(Patience);

        Assert.That(results, Is.All.EqualTo("value"));
        Assert.That(calls, Is.EqualTo(1));
    }

    [Test]
    public async Task A_thousand_callers_over_four_processes_run_the_function_once()
    {
        var processes = new List<DistributedTaskCache<string>>();
        for (int i = 0; i < 4; i++)
        {
            processes.Add((await ProcessAsync()).Cache);
        }

        int calls = 0;
        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<string>[] callers = [.. Enumerable.Range(0, 1000).Select(i => processes[i % 4].GetOrAddAsync("k", (_, _) =>
        {
            Interlocked.Increment(ref calls);
            return release.Task;
        }))];
        await Task.Delay(200); // every process has asked Redis by now; at most one holds the lease
        release.SetResult("value");
        string[] results = await Task.WhenAll(callers).WaitAsync(Patience);

        Assert.That(results, Is.All.EqualTo("value"));
        Assert.That(calls, Is.EqualTo(1));
    }

    [Test]
    public async Task A_process_whose_read_missed_just_before_another_finished_reads_again_instead_of_calling()
    {
        var a = await ProcessAsync();
        var b = await ProcessAsync();

        SecondLevelEntry missed = await b.Level.ReadAsync("k", CancellationToken.None);
        await a.Cache.GetOrAddAsync("k", (_, _) => Task.FromResult("from a")); // writes and releases its lease
        bool bCalls = await b.Level.TryBeginCallAsync("k", CancellationToken.None);

        Assert.That(missed.Value, Is.Null);
        Assert.That(bCalls, Is.False, "the value is in Redis: B must read it, not call again");
    }

    [Test]
    public async Task The_coroutine_cache_reads_another_process_s_result_from_Redis()
    {
        var a = await ProcessAsync();
        ConnectionMultiplexer connection = await ConnectionMultiplexer.ConnectAsync(_server.ConnectionString);
        _disposables.Add(connection);
        using var level = new RedisSecondLevelCache(connection, _prefix);
        using var b = new DistributedCoroutineCache<string>(level);

        await a.Cache.GetOrAddAsync("k", (_, _) => Task.FromResult("from a"));

        Assert.That(await b.GetOrAddAsync("k", static (_, _) => new ValueTask<string>("never")), Is.EqualTo("from a"));
    }

    [Test]
    public async Task An_invalidation_reaches_the_first_level_of_the_other_processes()
    {
        var a = await ProcessAsync();
        var b = await ProcessAsync();
        // Seen by B's connection after B's own handler (handlers of a channel run in order of subscription).
        var writeSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await b.Connection.GetSubscriber().SubscribeAsync(RedisChannel.Literal(_prefix + "events"), (_, m) =>
        {
            if (((string?)m)?.StartsWith('w') == true)
            {
                writeSeen.TrySetResult();
            }
        });
        await a.Cache.GetOrAddAsync("k", (_, _) => Task.FromResult("old"));
        await writeSeen.Task.WaitAsync(Patience);
        Assert.That(await b.Cache.GetOrAddAsync("k", (_, _) => Task.FromResult("never")), Is.EqualTo("old"));
        Assert.That(b.Cache.FirstLevel.Count, Is.EqualTo(1));

        var clock = Stopwatch.StartNew();
        Assert.That(await a.Cache.InvalidateAsync("k"), Is.True);
        await EventuallyAsync(() => b.Cache.FirstLevel.Count == 0, "B's L1 entry was not dropped");
        TestContext.Out.WriteLine($"invalidation reached the other process in {clock.Elapsed.TotalMilliseconds:F1} ms");

        Assert.That(await b.Cache.GetOrAddAsync("k", (_, _) => Task.FromResult("new")), Is.EqualTo("new"));
    }

    [Test]
    public async Task A_new_write_reaches_the_first_level_of_the_other_processes()
    {
        var a = await ProcessAsync();
        var b = await ProcessAsync();
        await b.Cache.GetOrAddAsync("k", (_, _) => Task.FromResult("old"));
        await a.Cache.InvalidateAsync("k");
        await EventuallyAsync(() => b.Cache.FirstLevel.Count == 0, "B's L1 entry was not dropped");

        // B re-reads lazily; A writes a new value meanwhile: B's L1 copy of nothing stays consistent.
        await a.Cache.GetOrAddAsync("k", (_, _) => Task.FromResult("new"));

        Assert.That(await b.Cache.GetOrAddAsync("k", (_, _) => Task.FromResult("never")), Is.EqualTo("new"));
    }

    [Test]
    public async Task A_slow_call_started_before_Invalidate_in_another_process_never_writes_its_stale_value()
    {
        var a = await ProcessAsync();
        var b = await ProcessAsync();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);

        Task<string> stale = a.Cache.GetOrAddAsync("k", (_, _) =>
        {
            entered.SetResult();
            return release.Task;
        });
        await entered.Task.WaitAsync(Patience);
        Assert.That(await b.Cache.InvalidateAsync("k"), Is.True);
        release.SetResult("stale");

        Assert.That(await stale.WaitAsync(Patience), Is.EqualTo("stale"), "its own callers still get it");
        Assert.That(await ExistsAsync("k"), Is.False, "the stale value was written to Redis");
        Assert.That(await b.Cache.GetOrAddAsync("k", (_, _) => Task.FromResult("fresh")), Is.EqualTo("fresh"));
        Assert.That(await ExistsAsync("k"), Is.True);
    }

    [Test]
    public async Task A_dead_owner_s_lease_expires_and_another_process_takes_over()
    {
        var b = await ProcessAsync(lease: TimeSpan.FromSeconds(1));

        // The owner took the lease and died before finishing: only its lease is left.
        Assert.That(_server.Command("SET", _prefix + "{k}:lease", "dead-owner", "PX", "500"), Is.EqualTo("+OK"));
        int calls = 0;
        var clock = Stopwatch.StartNew();
        string value = await b.Cache.GetOrAddAsync("k", (_, _) =>
        {
            Interlocked.Increment(ref calls);
            return Task.FromResult("taken over");
        }).WaitAsync(Patience);

        Assert.That(value, Is.EqualTo("taken over"));
        Assert.That(calls, Is.EqualTo(1));
        Assert.That(clock.Elapsed, Is.GreaterThan(TimeSpan.FromMilliseconds(300)), "it waited for the lease");
        Assert.That(await ExistsAsync("k"), Is.True);
    }

    [Test]
    public async Task A_waiting_process_reads_the_owner_s_result_when_it_completes()
    {
        var a = await ProcessAsync();
        var b = await ProcessAsync();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<string> owner = a.Cache.GetOrAddAsync("k", (_, _) =>
        {
            entered.SetResult();
            return release.Task;
        });
        await entered.Task.WaitAsync(Patience);
        int bCalls = 0;
        Task<string> waiter = b.Cache.GetOrAddAsync("k", (_, _) =>
        {
            Interlocked.Increment(ref bCalls);
            return Task.FromResult("b");
        });
        await Task.Delay(100);
        Assert.That(waiter.IsCompleted, Is.False, "B waits for A's lease");

        var clock = Stopwatch.StartNew();
        release.SetResult("a");

        Assert.That(await owner.WaitAsync(Patience), Is.EqualTo("a"));
        Assert.That(await waiter.WaitAsync(Patience), Is.EqualTo("a"));
        Assert.That(bCalls, Is.Zero);
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "woken by the completion message, not the 30 s lease");
    }

    [Test]
    public async Task With_Redis_down_the_caches_keep_working_on_their_first_level_and_recover_when_it_returns()
    {
        var failures = new ConcurrentQueue<Exception>();
        var a = await ProcessAsync(failures: failures);
        await a.Cache.GetOrAddAsync("cached", (_, _) => Task.FromResult("v"));

        _server.Kill();
        await EventuallyAsync(() => !a.Connection.IsConnected, "the connection did not notice the kill");

        Assert.That(await a.Cache.GetOrAddAsync("cached", (_, _) => Task.FromResult("never")).WaitAsync(Patience), Is.EqualTo("v"), "L1 keeps serving");
        Assert.That(await a.Cache.GetOrAddAsync("new", (_, _) => Task.FromResult("local")).WaitAsync(Patience), Is.EqualTo("local"), "misses call the function");
        Assert.That(await a.Cache.InvalidateAsync("cached").WaitAsync(Patience), Is.False);
        Assert.That(failures, Is.Not.Empty);

        _server.Restart();
        await EventuallyAsync(() => a.Connection.IsConnected, "the connection did not come back");
        await WaitSubscribedAsync(a.Connection);

        Assert.That(await a.Cache.GetOrAddAsync("after", (_, _) => Task.FromResult("stored")).WaitAsync(Patience), Is.EqualTo("stored"));
        Assert.That(await ExistsAsync("after"), Is.True, "writes resume");
        var b = await ProcessAsync();
        Assert.That(await b.Cache.GetOrAddAsync("after", (_, _) => Task.FromResult("never")), Is.EqualTo("stored"));
    }

    [Test]
    public async Task An_invalidation_made_while_Redis_was_unreachable_is_replayed_when_Redis_returns_with_its_data()
    {
        var failures = new ConcurrentQueue<Exception>();
        var a = await ProcessAsync(failures: failures);
        var b = await ProcessAsync();
        Assert.That(await a.Cache.GetOrAddAsync("k", (_, _) => Task.FromResult("v1")), Is.EqualTo("v1"));
        Assert.That(await b.Cache.GetOrAddAsync("k", (_, _) => Task.FromResult("never")), Is.EqualTo("v1"));
        int restored = 0;
        b.Connection.ConnectionRestored += (_, e) =>
        {
            if (e.ConnectionType == ConnectionType.Subscription)
            {
                Interlocked.Exchange(ref restored, 1);
            }
        };
        Assert.That(_server.Command("SAVE"), Is.EqualTo("+OK"));
        _server.Kill();
        await EventuallyAsync(() => !a.Connection.IsConnected && !b.Connection.IsConnected, "the connections did not notice the kill");

        Assert.That(await a.Cache.InvalidateAsync("k").WaitAsync(Patience), Is.False, "Redis is unreachable");
        Assert.That(await a.Cache.GetOrAddAsync("k", (_, _) => Task.FromResult("v2")).WaitAsync(Patience), Is.EqualTo("v2"));

        _server.Restart(); // loads the saved data: Redis holds v1 again
        await EventuallyAsync(() => a.Connection.IsConnected && b.Connection.IsConnected, "the connections did not come back");
        await WaitSubscribedAsync(a.Connection);
        await WaitSubscribedAsync(b.Connection);
        await EventuallyAsync(() => Volatile.Read(ref restored) == 1, "b's subscription was not restored"); // b's L1 is cleared then

        // Whether or not the reconnection already cleared a's L1, a never serves v1 again.
        Assert.That(await a.Cache.GetOrAddAsync("k", (_, _) => Task.FromResult("v2")).WaitAsync(Patience), Is.EqualTo("v2"), "the invalidating process");
        await EventuallyAsync(() => StoredAsync("k").GetAwaiter().GetResult() != "v1", "the invalidation was not replayed: Redis still holds v1");
        Assert.That(await b.Cache.GetOrAddAsync("k", (_, _) => Task.FromResult("v2")).WaitAsync(Patience), Is.EqualTo("v2"), "the other process, once the replay reached it");
        Assert.That(await b.Cache.GetOrAddAsync("k", (_, _) => Task.FromResult("v3")).WaitAsync(Patience), Is.EqualTo("v2"), "b cached v2");
    }

    [Test]
    public async Task A_call_begun_before_an_invalidation_made_while_Redis_was_unreachable_never_writes_when_Redis_returns_with_its_data()
    {
        var a = await ProcessAsync();
        SecondLevelEntry read = await a.Level.ReadAsync("k", CancellationToken.None); // a miss: stores a version token
        Assert.That(read.Value, Is.Null);
        Assert.That(_server.Command("SAVE"), Is.EqualTo("+OK"));
        _server.Kill();
        await EventuallyAsync(() => !a.Connection.IsConnected, "the connection did not notice the kill");
        Assert.That(await a.Cache.InvalidateAsync("k").WaitAsync(Patience), Is.False);

        _server.Restart(); // loads the saved data: the token read before the invalidation is back
        await EventuallyAsync(() => a.Connection.IsConnected, "the connection did not come back");

        // Whether the replay already ran (the token is gone) or not (the key is pending), the stale call never writes.
        Assert.That(await a.Level.EndCallAsync("k", read.Version, new byte[] { 1 }, null), Is.False);
        Assert.That(await ExistsAsync("k"), Is.False);
    }

    [Test]
    public async Task Past_MaxPendingInvalidations_the_process_stops_reading_and_writing_Redis_but_still_replays_what_it_kept()
    {
        var failures = new ConcurrentQueue<Exception>();
        var a = await ProcessAsync(failures: failures, maxPendingInvalidations: 2);
        foreach (string key in new[] { "k1", "k2", "k3" })
        {
            Assert.That(await a.Cache.GetOrAddAsync(key, (_, _) => Task.FromResult("v1")), Is.EqualTo("v1"));
        }

        Assert.That(_server.Command("SAVE"), Is.EqualTo("+OK"));
        _server.Kill();
        await EventuallyAsync(() => !a.Connection.IsConnected, "the connection did not notice the kill");
        foreach (string key in new[] { "k1", "k2", "k3" })
        {
            Assert.That(await a.Cache.InvalidateAsync(key).WaitAsync(Patience), Is.False);
        }

        _server.Restart();
        await EventuallyAsync(() => a.Connection.IsConnected, "the connection did not come back");
        await WaitSubscribedAsync(a.Connection);
        await EventuallyAsync(() => !ExistsAsync("k1").GetAwaiter().GetResult() && !ExistsAsync("k2").GetAwaiter().GetResult(), "the kept invalidations were not replayed");

        Assert.That(await ExistsAsync("k3"), Is.True, "the invalidation past the bound was not kept");
        Assert.That(await a.Cache.GetOrAddAsync("k3", (_, _) => Task.FromResult("v2")).WaitAsync(Patience), Is.EqualTo("v2"), "no L2 read after an overflow");
        Assert.That(await a.Cache.GetOrAddAsync("fresh", (_, _) => Task.FromResult("local")).WaitAsync(Patience), Is.EqualTo("local"));
        Assert.That(await ExistsAsync("fresh"), Is.False, "no L2 write after an overflow");
    }

    private async Task<IDatabase> ProbeAsync()
    {
        ConnectionMultiplexer probe = await ConnectionMultiplexer.ConnectAsync(_server.ConnectionString);
        _disposables.Add(probe);
        return probe.GetDatabase();
    }

    [Test]
    public async Task A_call_longer_than_several_leases_runs_once_across_two_processes()
    {
        TimeSpan lease = TimeSpan.FromMilliseconds(600); // renewed every 200 ms: slack for a loaded machine
        var a = await ProcessAsync(lease);
        var b = await ProcessAsync(lease);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int calls = 0;
        Task<string> owner = a.Cache.GetOrAddAsync("k", async (_, ct) =>
        {
            Interlocked.Increment(ref calls);
            entered.SetResult();
            await Task.Delay(lease * 4, ct); // Redis's clock: the lease must be renewed to outlive this
            return "a";
        });
        await entered.Task.WaitAsync(Patience);
        Task<string> waiter = b.Cache.GetOrAddAsync("k", (_, _) =>
        {
            Interlocked.Increment(ref calls);
            return Task.FromResult("b");
        });

        Assert.That(await owner.WaitAsync(Patience), Is.EqualTo("a"));
        Assert.That(await waiter.WaitAsync(Patience), Is.EqualTo("a"), "B waited for the renewed lease and read A's result");
        Assert.That(calls, Is.EqualTo(1));
    }

    [Test]
    public async Task A_dead_owner_stops_renewing_and_is_taken_over_after_one_lease()
    {
        TimeSpan lease = TimeSpan.FromMilliseconds(400);
        var a = await ProcessAsync(lease);
        var b = await ProcessAsync(lease);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<string> owner = a.Cache.GetOrAddAsync("k", (_, _) =>
        {
            entered.SetResult();
            return release.Task;
        });
        await entered.Task.WaitAsync(Patience);

        // The owner's process dies mid-call: its level and connection go away, nobody renews its lease.
        a.Level.Dispose();
        a.Connection.Dispose();
        var clock = Stopwatch.StartNew();
        int bCalls = 0;
        string value = await b.Cache.GetOrAddAsync("k", (_, _) =>
        {
            Interlocked.Increment(ref bCalls);
            return Task.FromResult("taken over");
        }).WaitAsync(Patience);

        Assert.That(value, Is.EqualTo("taken over"));
        Assert.That(bCalls, Is.EqualTo(1));
        Assert.That(clock.Elapsed, Is.LessThan(lease * 6), "taken over about one lease after the death");
        release.SetResult("late");
        Assert.That(await owner.WaitAsync(Patience), Is.EqualTo("late"), "the dead owner's own callers still get their result");
    }

    [Test]
    public async Task A_call_started_before_Invalidate_never_writes_even_when_the_version_key_expired_meanwhile()
    {
        var a = await ProcessAsync();
        var b = await ProcessAsync();
        IDatabase probe = await ProbeAsync();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<string> stale = a.Cache.GetOrAddAsync("k", (_, _) =>
        {
            entered.SetResult();
            return release.Task;
        });
        await entered.Task.WaitAsync(Patience);
        Assert.That(await b.Cache.InvalidateAsync("k"), Is.True);

        // The version key expires (as it now may) before the slow call ends.
        await probe.KeyDeleteAsync(_prefix + "{k}:ver");
        release.SetResult("stale");

        Assert.That(await stale.WaitAsync(Patience), Is.EqualTo("stale"));
        Assert.That(await ExistsAsync("k"), Is.False, "the stale value was written after the version key expired");
    }

    [Test]
    public async Task A_call_that_read_no_version_never_writes_after_an_invalidation_whose_version_expired()
    {
        var a = await ProcessAsync();
        IDatabase probe = await ProbeAsync();
        SecondLevelEntry read = await a.Level.ReadAsync("k", CancellationToken.None);
        Assert.That(await a.Level.TryBeginCallAsync("k", CancellationToken.None), Is.True);
        await a.Level.InvalidateAsync("k", CancellationToken.None);
        await probe.KeyDeleteAsync(_prefix + "{k}:ver"); // expired
        await a.Level.ReadAsync("other", CancellationToken.None);

        bool written = await a.Level.EndCallAsync("k", read.Version, new byte[] { 1 }, null);

        Assert.That(written, Is.False);
        Assert.That(await ExistsAsync("k"), Is.False);
    }

    [Test]
    public async Task Version_keys_do_not_accumulate_every_one_expires()
    {
        var a = await ProcessAsync(TimeSpan.FromSeconds(2));
        IDatabase probe = await ProbeAsync();
        for (int i = 0; i < 20; i++)
        {
            await a.Cache.GetOrAddAsync("k" + i, (k, _) => Task.FromResult(k));
            await a.Cache.InvalidateAsync("k" + i);
            await a.Cache.GetOrAddAsync("k" + i, (k, _) => Task.FromResult(k));
            await a.Cache.InvalidateAsync("k" + i);
        }

        await a.Cache.GetOrAddAsync("kept", (k, _) => Task.FromResult(k));
        RedisResult keys = await probe.ExecuteAsync("KEYS", _prefix + "*:ver");
        foreach (RedisKey key in (RedisKey[])keys!)
        {
            Assert.That((await probe.KeyTimeToLiveAsync(key)).HasValue, Is.True, $"{key} never expires");
        }
    }

    private async Task<(DistributedTaskCache<string> Cache, RedisSecondLevelCache Level, ConnectionMultiplexer Connection)> FakeClockProcessAsync(
        FakeTimeProvider clock, TimeSpan lease)
    {
        ConnectionMultiplexer connection = await ConnectionMultiplexer.ConnectAsync(_server.ConnectionString);
        _disposables.Add(connection);
        var level = new RedisSecondLevelCache(connection, new RedisSecondLevelCacheOptions { KeyPrefix = _prefix, LeaseDuration = lease, TimeProvider = clock });
        _disposables.Add(level);
        var cache = new DistributedTaskCache<string>(level, new DistributedCacheOptions<string> { TimeToLive = TimeSpan.FromMinutes(5) });
        _disposables.Add(cache);
        await WaitSubscribedAsync(connection);
        return (cache, level, connection);
    }

    [Test]
    public async Task The_owner_renews_its_lease_on_the_time_provider_s_timer_until_its_call_ends()
    {
        var clock = new FakeTimeProvider();
        var a = await FakeClockProcessAsync(clock, TimeSpan.FromSeconds(30));
        IDatabase db = a.Connection.GetDatabase(); // same connection: commands run after the renewal it sent
        RedisKey lease = _prefix + "{k}:lease";
        RedisKey version = _prefix + "{k}:ver";
        SecondLevelEntry read = await a.Level.ReadAsync("k", CancellationToken.None);
        Assert.That(await a.Level.TryBeginCallAsync("k", CancellationToken.None), Is.True);

        await db.KeyExpireAsync(lease, TimeSpan.FromSeconds(2)); // as if Redis's clock had run
        await db.KeyExpireAsync(version, TimeSpan.FromSeconds(2));
        clock.Advance(TimeSpan.FromSeconds(9));
        Assert.That((await db.KeyTimeToLiveAsync(lease))!.Value, Is.LessThanOrEqualTo(TimeSpan.FromSeconds(2)), "renewed before a third of the lease");
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.That((await db.KeyTimeToLiveAsync(lease))!.Value, Is.GreaterThan(TimeSpan.FromSeconds(20)), "renewed at a third of the lease");
        Assert.That((await db.KeyTimeToLiveAsync(version))!.Value, Is.GreaterThan(TimeSpan.FromSeconds(50)), "the version token lives while the call runs");

        Assert.That(await a.Level.EndCallAsync("k", read.Version, new byte[] { 1 }, null), Is.True);
        Assert.That(await db.KeyExistsAsync(lease), Is.False);
        await db.StringSetAsync(lease, "someone-else", TimeSpan.FromSeconds(2));
        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.That((await db.KeyTimeToLiveAsync(lease))!.Value, Is.LessThanOrEqualTo(TimeSpan.FromSeconds(2)), "no renewal after the call ended");
    }

    [Test]
    public async Task A_disposed_level_stops_renewing_its_leases()
    {
        var clock = new FakeTimeProvider();
        var a = await FakeClockProcessAsync(clock, TimeSpan.FromSeconds(30));
        IDatabase db = a.Connection.GetDatabase();
        RedisKey lease = _prefix + "{k}:lease";
        await a.Level.ReadAsync("k", CancellationToken.None);
        Assert.That(await a.Level.TryBeginCallAsync("k", CancellationToken.None), Is.True);

        a.Level.Dispose();
        await db.KeyExpireAsync(lease, TimeSpan.FromSeconds(2));
        clock.Advance(TimeSpan.FromSeconds(10));

        Assert.That((await db.KeyTimeToLiveAsync(lease))!.Value, Is.LessThanOrEqualTo(TimeSpan.FromSeconds(2)));
    }

    [Test]
    public async Task A_waiter_whose_bound_elapses_on_the_time_provider_rechecks_the_lease_and_keeps_waiting()
    {
        var clock = new FakeTimeProvider();
        var a = await FakeClockProcessAsync(clock, TimeSpan.FromSeconds(30));
        var b = await FakeClockProcessAsync(clock, TimeSpan.FromSeconds(30));
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<string> owner = a.Cache.GetOrAddAsync("k", (_, _) =>
        {
            entered.SetResult();
            return release.Task;
        });
        await entered.Task.WaitAsync(Patience);
        int bCalls = 0;
        Task<string> waiter = b.Cache.GetOrAddAsync("k", (_, _) =>
        {
            Interlocked.Increment(ref bCalls);
            return Task.FromResult("b");
        });

        for (int i = 0; i < 3; i++)
        {
            await Task.Delay(100); // B is waiting on its bound (the lease's remaining time, on the fake clock)
            clock.Advance(TimeSpan.FromSeconds(31));
        }

        await Task.Delay(100);
        Assert.That(waiter.IsCompleted, Is.False, "B re-checked the renewed lease and waits again");
        Assert.That(bCalls, Is.Zero);
        release.SetResult("a");
        Assert.That(await owner.WaitAsync(Patience), Is.EqualTo("a"));
        Assert.That(await waiter.WaitAsync(Patience), Is.EqualTo("a"));
        Assert.That(bCalls, Is.Zero);
    }

    [Test]
    public void Options_out_of_range_are_rejected_naming_the_argument()
    {
        using ConnectionMultiplexer connection = ConnectionMultiplexer.Connect(_server.ConnectionString);
        Assert.That(() => new RedisSecondLevelCache(connection, new RedisSecondLevelCacheOptions { LeaseDuration = TimeSpan.Zero }),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("options"));
        Assert.That(() => new RedisSecondLevelCache(connection, new RedisSecondLevelCacheOptions { TimeProvider = null! }),
            Throws.TypeOf<ArgumentNullException>().With.Property("ParamName").EqualTo("options"));
        Assert.That(() => new RedisSecondLevelCache(connection, leaseDuration: TimeSpan.FromSeconds(-1)),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("leaseDuration"));
    }

    [Test]
    public async Task A_waiter_s_bound_runs_on_the_time_provider_and_then_takes_over_a_vanished_lease()
    {
        var clock = new FakeTimeProvider();
        var b = await FakeClockProcessAsync(clock, TimeSpan.FromSeconds(30));
        IDatabase db = b.Connection.GetDatabase();

        // An owner holds the lease and then vanishes without a completion message.
        await db.StringSetAsync(_prefix + "{k}:lease", "silent-owner", TimeSpan.FromSeconds(30));
        int bCalls = 0;
        Task<string> waiter = b.Cache.GetOrAddAsync("k", (_, _) =>
        {
            Interlocked.Increment(ref bCalls);
            return Task.FromResult("b");
        });
        await Task.Delay(200);
        Assert.That(waiter.IsCompleted, Is.False);
        await db.KeyDeleteAsync(_prefix + "{k}:lease");
        await Task.Delay(100);
        Assert.That(waiter.IsCompleted, Is.False, "nothing told B; it waits for its bound");

        clock.Advance(TimeSpan.FromSeconds(30));

        Assert.That(await waiter.WaitAsync(Patience), Is.EqualTo("b"), "the fake clock ended the wait, B re-checked and took over");
        Assert.That(bCalls, Is.EqualTo(1));
    }
}
