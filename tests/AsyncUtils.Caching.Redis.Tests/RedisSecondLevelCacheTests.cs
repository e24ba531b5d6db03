using System.Collections.Concurrent;
using System.Diagnostics;
using AsyncUtils.Testing;
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
        TimeSpan? lease = null, ConcurrentQueue<Exception>? failures = null)
    {
        ConnectionMultiplexer connection = await ConnectionMultiplexer.ConnectAsync(_server.ConnectionString);
        _disposables.Add(connection);
        var level = new RedisSecondLevelCache(connection, _prefix, lease);
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
}
