using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.RateLimiting;
using AsyncUtils.Testing;
using StackExchange.Redis;
using static AsyncUtils.Tests.RedisTestSupport;

namespace AsyncUtils.Tests;

/// <summary>The limiter against one real redis-server shared by the tests of this class (each test uses its own name).</summary>
public sealed class RedisSlidingLogRateLimiterTests
{
    private RedisServer _server = null!;
    private ConnectionMultiplexer _admin = null!;

    [OneTimeSetUp]
    public async Task StartServer()
    {
        _server = RedisServer.Start();
        _admin = await ConnectAsync(_server);
    }

    [OneTimeTearDown]
    public async Task StopServer()
    {
        await _admin.DisposeAsync();
        _server.Dispose();
    }

    [TestCase(0)]
    [TestCase(500)]
    public async Task Four_processes_of_four_callers_never_exceed_the_limit_in_any_window_of_server_time(int skewMilliseconds)
    {
        // 4 "processes" (separate connections and limiters on one name) x 4 callers, 20 per 250 ms,
        // for about 1.5 s. Two processes' local clocks run skewed (ahead and behind) when asked.
        const int Limit = 20;
        TimeSpan window = TimeSpan.FromMilliseconds(250);
        string name = UniqueName("exact");
        var connections = new List<ConnectionMultiplexer>();
        var limiters = new List<RedisSlidingLogRateLimiter>();
        for (int p = 0; p < 4; p++)
        {
            ConnectionMultiplexer connection = await ConnectAsync(_server);
            connections.Add(connection);
            TimeProvider? time = skewMilliseconds == 0 || p >= 2 ? null
                : new SkewedTimeProvider(TimeSpan.FromMilliseconds(p == 0 ? skewMilliseconds : -skewMilliseconds));
            limiters.Add(Limiter(connection, name, 100, RedisRateLimiterFailureMode.Closed, time, new SlidingLogWindow(Limit, window)));
        }

        var grants = new ConcurrentBag<(DateTimeOffset, int)>();
        var stop = Stopwatch.StartNew();
        var callers = new List<Task>();
        foreach (RedisSlidingLogRateLimiter limiter in limiters)
        {
            for (int c = 0; c < 4; c++)
            {
                int permits = c == 3 ? 2 : 1;
                callers.Add(Task.Run(async () =>
                {
                    while (stop.Elapsed < TimeSpan.FromSeconds(1.5))
                    {
                        using RateLimitLease lease = await limiter.AcquireAsync(permits);
                        if (lease.IsAcquired)
                        {
                            grants.Add((GrantedAt(lease), permits));
                        }
                    }
                }));
            }
        }

        await Within(Task.WhenAll(callers).ContinueWith(_ => true, TaskScheduler.Default), "the callers");
        await Task.WhenAll(callers);

        Assert.That(WorstWindow([.. grants], window), Is.LessThanOrEqualTo(Limit));
        int permitsGranted = grants.Sum(g => g.Item2);
        Assert.That(permitsGranted, Is.GreaterThanOrEqualTo(Limit * 3), "the fleet kept granting");
        foreach (RedisSlidingLogRateLimiter limiter in limiters)
        {
            await limiter.DisposeAsync();
        }

        foreach (ConnectionMultiplexer connection in connections)
        {
            await connection.DisposeAsync();
        }
    }

    [Test]
    public async Task Queued_requests_cost_at_most_two_script_calls_per_grant_without_polling()
    {
        // 2 processes x 4 callers that always want a permit, 10 per 200 ms, for about 1 s.
        string name = UniqueName("calls");
        TimeSpan window = TimeSpan.FromMilliseconds(200);
        await using ConnectionMultiplexer admin = await ConnectionMultiplexer.ConnectAsync(_server.ConnectionString + ",allowAdmin=true");
        IServer server = admin.GetServer(admin.GetEndPoints()[0]);
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using ConnectionMultiplexer cb = await ConnectAsync(_server);
        await using RedisSlidingLogRateLimiter a = Limiter(ca, name, 100, new SlidingLogWindow(10, window));
        await using RedisSlidingLogRateLimiter b = Limiter(cb, name, 100, new SlidingLogWindow(10, window));
        await server.ConfigResetStatisticsAsync();

        int grants = 0;
        var stop = Stopwatch.StartNew();
        Task[] callers = [.. Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            RedisSlidingLogRateLimiter limiter = i % 2 == 0 ? a : b;
            while (stop.Elapsed < TimeSpan.FromSeconds(1))
            {
                if ((await limiter.AcquireAsync()).IsAcquired)
                {
                    Interlocked.Increment(ref grants);
                }
            }
        }))];
        await Within(Task.WhenAll(callers).ContinueWith(_ => true, TaskScheduler.Default), "the callers");

        long calls = 0;
        foreach (IGrouping<string, KeyValuePair<string, string>> group in await server.InfoAsync("commandstats"))
        {
            foreach (KeyValuePair<string, string> pair in group)
            {
                if (pair.Key is "cmdstat_evalsha" or "cmdstat_eval")
                {
                    calls += long.Parse(pair.Value.Split(',')[0].Split('=')[1], System.Globalization.CultureInfo.InvariantCulture);
                }
            }
        }

        TestContext.Out.WriteLine($"{grants} grants, {calls} script calls");
        Assert.That(grants, Is.GreaterThanOrEqualTo(30));
        Assert.That(calls, Is.LessThanOrEqualTo((2 * grants) + 16), "one call to enter the queue, one when the timer fires");
    }

    [Test]
    public async Task Several_windows_grant_all_or_nothing_across_processes()
    {
        string name = UniqueName("multi");
        await using ConnectionMultiplexer a = await ConnectAsync(_server);
        await using ConnectionMultiplexer b = await ConnectAsync(_server);
        SlidingLogWindow[] windows = [new(3, TimeSpan.FromMilliseconds(300)), new(5, TimeSpan.FromSeconds(3))];
        await using RedisSlidingLogRateLimiter la = Limiter(a, name, 0, windows);
        await using RedisSlidingLogRateLimiter lb = Limiter(b, name, 0, windows);

        // The short window allows 3: two from one process, one from the other, then a 2-permit request fails whole.
        Assert.That((await la.AcquireAsync(2)).IsAcquired, Is.True);
        Assert.That((await lb.AcquireAsync(1)).IsAcquired, Is.True);
        RateLimitLease refused = await lb.AcquireAsync(2);
        Assert.That(refused.IsAcquired, Is.False);
        Assert.That(RetryAfter(refused), Is.GreaterThan(TimeSpan.Zero).And.LessThanOrEqualTo(TimeSpan.FromMilliseconds(300)));

        // After the short window, the long one has room for 2 more, not 3: a 3-permit request takes nothing.
        await Task.Delay(RetryAfter(refused) + TimeSpan.FromMilliseconds(20));
        RateLimitLease tooMany = await la.AcquireAsync(3);
        Assert.That(tooMany.IsAcquired, Is.False, "the long window has only 2 left");
        Assert.That(await _admin.GetDatabase().SortedSetLengthAsync(la.Keys[0]), Is.EqualTo(3), "a refusal takes nothing from any window");
        Assert.That((await lb.AcquireAsync(2)).IsAcquired, Is.True);
        Assert.That((await la.AcquireAsync(1)).IsAcquired, Is.False, "5 per 3 s reached");
    }

    [Test]
    public async Task Queued_requests_are_served_in_order_of_arrival_at_the_server_across_processes()
    {
        string name = UniqueName("fifo");
        TimeSpan window = TimeSpan.FromMilliseconds(150);
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using ConnectionMultiplexer cb = await ConnectAsync(_server);
        await using ConnectionMultiplexer cc = await ConnectAsync(_server);
        await using RedisSlidingLogRateLimiter a = Limiter(ca, name, 10, new SlidingLogWindow(1, window));
        await using RedisSlidingLogRateLimiter b = Limiter(cb, name, 10, new SlidingLogWindow(1, window));
        await using RedisSlidingLogRateLimiter c = Limiter(cc, name, 10, new SlidingLogWindow(1, window));
        Assert.That((await a.AcquireAsync()).IsAcquired, Is.True);

        var order = new ConcurrentQueue<string>();
        var tasks = new List<Task>();
        foreach ((RedisSlidingLogRateLimiter limiter, string label) in new[] { (b, "b1"), (c, "c1"), (a, "a1"), (b, "b2"), (c, "c2") })
        {
            int before = limiter.ServerQueuedCount;
            Task<RateLimitLease> acquire = limiter.AcquireAsync().AsTask();
            tasks.Add(acquire.ContinueWith(t => order.Enqueue(t.Result.IsAcquired ? label : label + "!"), TaskScheduler.Default));
            await WaitUntilAsync(() => limiter.ServerQueuedCount == before + 1, label + " queued");
        }

        await Within(Task.WhenAll(tasks).ContinueWith(_ => true, TaskScheduler.Default), "the queue");
        Assert.That(order, Is.EqualTo(new[] { "b1", "c1", "a1", "b2", "c2" }));
    }

    [Test]
    public async Task A_request_for_several_permits_counts_each_and_waits_until_they_all_fit()
    {
        string name = UniqueName("permits");
        TimeSpan window = TimeSpan.FromMilliseconds(300);
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using ConnectionMultiplexer cb = await ConnectAsync(_server);
        await using RedisSlidingLogRateLimiter a = Limiter(ca, name, 10, new SlidingLogWindow(5, window));
        await using RedisSlidingLogRateLimiter b = Limiter(cb, name, 10, new SlidingLogWindow(5, window));

        DateTimeOffset first = GrantedAt(await a.AcquireAsync(3));
        Assert.That(await _admin.GetDatabase().SortedSetLengthAsync(a.Keys[0]), Is.EqualTo(3));
        RateLimitLease second = await Within(b.AcquireAsync(3).AsTask(), "the 3-permit request");
        Assert.That(GrantedAt(second) - first, Is.GreaterThanOrEqualTo(window), "3 + 3 > 5: the second waits for the first to leave");
        Assert.That(RetryAfter(second), Is.EqualTo(TimeSpan.Zero), "2 permits are left after it");
        Assert.Throws<ArgumentOutOfRangeException>(() => a.AcquireAsync(6));
    }

    [Test]
    public async Task Retry_after_is_exact_on_granted_and_refused_leases()
    {
        string name = UniqueName("retry");
        TimeSpan window = TimeSpan.FromMilliseconds(400);
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using RedisSlidingLogRateLimiter a = Limiter(ca, name, 0, new SlidingLogWindow(2, window));

        RateLimitLease l1 = await a.AcquireAsync();
        Assert.That(RetryAfter(l1), Is.EqualTo(TimeSpan.Zero), "one permit left");
        RateLimitLease l2 = await a.AcquireAsync();
        DateTimeOffset t1 = GrantedAt(l1);
        DateTimeOffset t2 = GrantedAt(l2);
        Assert.That(RetryAfter(l2), Is.EqualTo(t1 + window - t2), "exactly when the first permit frees, on the server's clock");

        RateLimitLease refused = await a.AcquireAsync();
        Assert.That(refused.IsAcquired, Is.False);
        TimeSpan wait = RetryAfter(refused);
        Assert.That(wait, Is.GreaterThan(TimeSpan.Zero).And.LessThanOrEqualTo(t1 + window - t2));

        // Waiting exactly the retry-after is enough (never early on the server's clock).
        await Task.Delay(wait + TimeSpan.FromMilliseconds(15)); // .NET timers on Linux may fire a coarse tick early
        RateLimitLease l3 = await a.AcquireAsync();
        Assert.That(GrantedAt(l3), Is.GreaterThanOrEqualTo(t1 + window));
    }

    [Test]
    public async Task A_cancelled_queued_request_leaves_the_queue_and_the_next_one_proceeds()
    {
        string name = UniqueName("cancel");
        TimeSpan window = TimeSpan.FromMilliseconds(300);
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using ConnectionMultiplexer cb = await ConnectAsync(_server);
        await using RedisSlidingLogRateLimiter a = Limiter(ca, name, 10, new SlidingLogWindow(1, window));
        await using RedisSlidingLogRateLimiter b = Limiter(cb, name, 10, new SlidingLogWindow(1, window));
        DateTimeOffset first = GrantedAt(await a.AcquireAsync());

        using var cts = new CancellationTokenSource();
        Task<RateLimitLease> cancelled = a.AcquireAsync(1, cts.Token).AsTask();
        await WaitUntilAsync(() => a.ServerQueuedCount == 1, "a queued");
        Task<RateLimitLease> next = b.AcquireAsync().AsTask();
        await WaitUntilAsync(() => b.ServerQueuedCount == 1, "b queued");
        Assert.That(await _admin.GetDatabase().SortedSetLengthAsync(a.Keys[4]), Is.EqualTo(2));

        await cts.CancelAsync();
        await Assert.ThrowsAsync<TaskCanceledException>(async () => await cancelled);
        await WaitUntilAsync(async () => await _admin.GetDatabase().SortedSetLengthAsync(a.Keys[4]) <= 1, "the cancelled ticket removed");

        RateLimitLease lease = await Within(next, "the request behind the cancelled one");
        Assert.That(GrantedAt(lease) - first, Is.GreaterThanOrEqualTo(window).And.LessThan(window + TimeSpan.FromMilliseconds(250)));
        Assert.That(await _admin.GetDatabase().SortedSetLengthAsync(a.Keys[0]), Is.EqualTo(1), "the cancelled request took no permit");
    }

    [Test]
    public async Task A_lost_nudge_costs_latency_only_the_waiter_still_wakes_on_its_timer()
    {
        string name = UniqueName("lostnudge");
        TimeSpan window = TimeSpan.FromMilliseconds(250);
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using ConnectionMultiplexer cb = await ConnectAsync(_server);
        await using RedisSlidingLogRateLimiter a = Limiter(ca, name, 10, new SlidingLogWindow(1, window));
        await using RedisSlidingLogRateLimiter b = Limiter(cb, name, 10, new SlidingLogWindow(1, window));
        DateTimeOffset first = GrantedAt(await a.AcquireAsync());
        using var cts = new CancellationTokenSource();
        Task<RateLimitLease> cancelled = a.AcquireAsync(1, cts.Token).AsTask();
        await WaitUntilAsync(() => a.ServerQueuedCount == 1, "a queued");
        Task<RateLimitLease> next = b.AcquireAsync().AsTask();
        await WaitUntilAsync(() => b.ServerQueuedCount == 1, "b queued");

        // b never hears the nudge that the cancellation publishes.
        await cb.GetSubscriber().UnsubscribeAllAsync();
        await cts.CancelAsync();
        await Assert.ThrowsAsync<TaskCanceledException>(async () => await cancelled);

        RateLimitLease lease = await Within(next, "the request whose nudge was lost");
        Assert.That(GrantedAt(lease) - first, Is.GreaterThanOrEqualTo(2 * window), "served at the time its timer was set for");
        Assert.That(GrantedAt(lease) - first, Is.LessThan((2 * window) + TimeSpan.FromMilliseconds(250)));
    }

    [Test]
    public async Task A_request_cancelled_after_the_server_granted_it_hands_the_grant_back()
    {
        string name = UniqueName("handback");
        TimeSpan window = TimeSpan.FromMilliseconds(200);
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using ConnectionMultiplexer cb = await ConnectAsync(_server);
        SlidingLogWindow[] windows = [new(1, window), new(100, TimeSpan.FromSeconds(10))];
        await using RedisSlidingLogRateLimiter a = Limiter(ca, name, 10, windows);
        await using RedisSlidingLogRateLimiter b = Limiter(cb, name, 10, windows);
        Assert.That((await a.AcquireAsync()).IsAcquired, Is.True);

        // b's request is queued with a token that fires just as it becomes due: whichever wins,
        // the permit is either delivered or handed back, never counted and lost.
        using var cts = new CancellationTokenSource();
        Task<RateLimitLease> request = b.AcquireAsync(1, cts.Token).AsTask();
        await WaitUntilAsync(() => b.ServerQueuedCount == 1, "b queued");
        cts.CancelAfter(window - TimeSpan.FromMilliseconds(5));
        bool delivered;
        try
        {
            delivered = (await request).IsAcquired;
        }
        catch (OperationCanceledException)
        {
            delivered = false;
        }

        await Task.Delay(100);
        long counted = await _admin.GetDatabase().SortedSetLengthAsync(a.Keys[0]);
        Assert.That(counted, Is.EqualTo(delivered ? 2 : 1));
    }

    [Test]
    public async Task Dispose_fails_queued_requests_and_removes_their_tickets()
    {
        string name = UniqueName("dispose");
        TimeSpan window = TimeSpan.FromMilliseconds(300);
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using ConnectionMultiplexer cb = await ConnectAsync(_server);
        RedisSlidingLogRateLimiter a = Limiter(ca, name, 10, new SlidingLogWindow(1, window));
        await using RedisSlidingLogRateLimiter b = Limiter(cb, name, 10, new SlidingLogWindow(1, window));
        DateTimeOffset first = GrantedAt(await b.AcquireAsync());
        Task<RateLimitLease> w1 = a.AcquireAsync().AsTask();
        Task<RateLimitLease> w2 = a.AcquireAsync().AsTask();
        await WaitUntilAsync(() => a.ServerQueuedCount == 2, "two queued");
        Task<RateLimitLease> behind = b.AcquireAsync().AsTask();
        await WaitUntilAsync(() => b.ServerQueuedCount == 1, "b queued");

        await a.DisposeAsync();
        foreach (Task<RateLimitLease> w in new[] { w1, w2 })
        {
            RateLimitLease lease = await w;
            Assert.That(lease.IsAcquired, Is.False);
            Assert.That(Reason(lease), Does.Contain("disposed"));
        }

        Assert.That(await _admin.GetDatabase().SortedSetLengthAsync(b.Keys[4]), Is.LessThanOrEqualTo(1), "only b's ticket is left");
        RateLimitLease next = await Within(behind, "the request behind the disposed ones");
        Assert.That(GrantedAt(next) - first, Is.LessThan(window + TimeSpan.FromMilliseconds(250)), "not held up by dead tickets");
        Assert.Throws<ObjectDisposedException>(() => a.AttemptAcquire());
    }

    [Test]
    public async Task AttemptAcquire_answers_from_the_last_refusal_without_calling_Redis()
    {
        string name = UniqueName("attempt");
        TimeSpan window = TimeSpan.FromSeconds(2);
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using RedisSlidingLogRateLimiter a = Limiter(ca, name, 0, new SlidingLogWindow(1, window));

        RateLimitLease unknown = a.AttemptAcquire();
        Assert.That(unknown.IsAcquired, Is.False);
        Assert.That(Reason(unknown), Does.Contain("AcquireAsync"));

        Assert.That((await a.AcquireAsync()).IsAcquired, Is.True);
        RateLimitLease recorded = a.AttemptAcquire();
        Assert.That(recorded.IsAcquired, Is.False);
        Assert.That(RetryAfter(recorded), Is.GreaterThan(TimeSpan.FromSeconds(1.5)).And.LessThanOrEqualTo(window));
        Assert.That(Reason(recorded), Does.Contain("last answer"));
    }

    [Test]
    public async Task Every_key_expires_when_idle()
    {
        string name = UniqueName("ttl");
        TimeSpan window = TimeSpan.FromMilliseconds(300);
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using RedisSlidingLogRateLimiter a = Limiter(ca, name, 10, new SlidingLogWindow(1, window));
        Assert.That((await a.AcquireAsync()).IsAcquired, Is.True);
        Task<RateLimitLease> queued = a.AcquireAsync().AsTask();
        await WaitUntilAsync(() => a.ServerQueuedCount == 1, "queued");

        IServer server = _admin.GetServer(_admin.GetEndPoints()[0]);
        var keys = new List<RedisKey>();
        await foreach (RedisKey key in server.KeysAsync(pattern: "asyncutils:rl:{" + name + "}:*"))
        {
            keys.Add(key);
        }

        Assert.That(keys, Has.Count.GreaterThanOrEqualTo(8));
        foreach (RedisKey key in keys)
        {
            TimeSpan? ttl = await _admin.GetDatabase().KeyTimeToLiveAsync(key);
            Assert.That(ttl, Is.Not.Null, key.ToString());
            Assert.That(ttl!.Value, Is.LessThanOrEqualTo(TimeSpan.FromSeconds(11)), key.ToString());
        }

        Assert.That((await Within(queued, "the queued request")).IsAcquired, Is.True);
    }

    [Test]
    public async Task Lost_state_quarantines_the_limiter_for_one_longest_window()
    {
        string name = UniqueName("quarantine");
        TimeSpan window = TimeSpan.FromMilliseconds(400);
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using RedisSlidingLogRateLimiter a = Limiter(ca, name, 0, new SlidingLogWindow(2, window));
        Assert.That((await a.AcquireAsync()).IsAcquired, Is.True);

        // The keys vanish (an eviction, a flush, a failover that lost writes).
        foreach (RedisKey key in a.Keys)
        {
            await _admin.GetDatabase().KeyDeleteAsync(key);
        }

        RateLimitLease refused = await a.AcquireAsync();
        Assert.That(refused.IsAcquired, Is.False);
        Assert.That(Reason(refused), Does.Contain("quarantine"));
        Assert.That(RetryAfter(refused), Is.GreaterThan(window - TimeSpan.FromMilliseconds(100)).And.LessThanOrEqualTo(window));

        await Task.Delay(RetryAfter(refused) + TimeSpan.FromMilliseconds(15));
        Assert.That((await a.AcquireAsync()).IsAcquired, Is.True, "granted again after one window");
    }

    [Test]
    public async Task State_rolled_back_to_an_older_snapshot_quarantines_the_limiter()
    {
        string name = UniqueName("rollback");
        TimeSpan window = TimeSpan.FromMilliseconds(400);
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using RedisSlidingLogRateLimiter a = Limiter(ca, name, 0, new SlidingLogWindow(2, window));
        Assert.That((await a.AcquireAsync()).IsAcquired, Is.True);

        // A restart from an older snapshot (or a failover to a lagging replica): the epoch survives,
        // but the state is older than an answer this process already had.
        IDatabase db = _admin.GetDatabase();
        long last = (long)await db.StringGetAsync(a.Keys[1]);
        await db.StringSetAsync(a.Keys[1], last - 5_000_000, TimeSpan.FromMinutes(1));
        await db.KeyDeleteAsync(a.Keys[0]);

        RateLimitLease refused = await a.AcquireAsync();
        Assert.That(refused.IsAcquired, Is.False);
        Assert.That(Reason(refused), Does.Contain("quarantine"));
        Assert.That(RetryAfter(refused), Is.GreaterThan(window - TimeSpan.FromMilliseconds(100)).And.LessThanOrEqualTo(window));
    }

    [Test]
    public async Task A_dead_processs_ticket_leaves_the_queue_so_nobody_behind_it_is_stranded()
    {
        string name = UniqueName("dead");
        TimeSpan window = TimeSpan.FromMilliseconds(200);
        ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using ConnectionMultiplexer cb = await ConnectAsync(_server);
        var options = new RedisSlidingLogRateLimiterOptions { Name = name, QueueLimit = 10, TicketTimeout = TimeSpan.FromMilliseconds(100), Windows = { new(1, window) } };
        var a = new RedisSlidingLogRateLimiter(ca, options);
        await using RedisSlidingLogRateLimiter b = Limiter(cb, name, 10, new SlidingLogWindow(1, window));
        Assert.That((await b.AcquireAsync()).IsAcquired, Is.True);
        Task<RateLimitLease> orphaned = a.AcquireAsync().AsTask();
        await WaitUntilAsync(() => a.ServerQueuedCount == 1, "a queued");

        // a's process dies: its connection is gone and it never comes back for its ticket.
        await ca.DisposeAsync();
        Task<RateLimitLease> behind = b.AcquireAsync().AsTask();
        RateLimitLease lease = await Within(behind, "the request behind the dead process's ticket");
        Assert.That(lease.IsAcquired, Is.True);
        Assert.That(await _admin.GetDatabase().SortedSetLengthAsync(b.Keys[4]), Is.Zero, "no ticket left");
        Assert.That(orphaned.IsCompleted, Is.False, "the dead process's request never got an answer");
        await a.DisposeAsync();
        Assert.That((await orphaned).IsAcquired, Is.False);
    }

    [Test]
    public async Task SetWindows_fails_requests_over_the_new_limit_and_serves_the_rest_under_it()
    {
        string name = UniqueName("setwindows");
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using RedisSlidingLogRateLimiter a = Limiter(ca, name, 10, new SlidingLogWindow(3, TimeSpan.FromSeconds(5)));
        Assert.That((await a.AcquireAsync(3)).IsAcquired, Is.True);
        Task<RateLimitLease> big = a.AcquireAsync(3).AsTask();
        Task<RateLimitLease> small = a.AcquireAsync(1).AsTask();
        await WaitUntilAsync(() => a.ServerQueuedCount == 2, "both queued");

        // 2 per 5 s: the 3-permit request can never pass; 10 per 5 s would serve the other at once.
        a.SetWindows(new SlidingLogWindow(2, TimeSpan.FromSeconds(5)));
        RateLimitLease refused = await Within(big, "the request over the new limit");
        Assert.That(refused.IsAcquired, Is.False);
        Assert.That(Reason(refused), Does.Contain("lowered"));
        a.SetWindows(new SlidingLogWindow(10, TimeSpan.FromSeconds(5)));
        Assert.That((await Within(small, "the request under the raised limit")).IsAcquired, Is.True);
        Assert.That(a.Windows, Is.EqualTo(new[] { new SlidingLogWindow(10, TimeSpan.FromSeconds(5)) }));
    }

    [Test]
    public async Task A_zero_permit_request_waits_for_a_free_permit_without_taking_it()
    {
        string name = UniqueName("zero");
        TimeSpan window = TimeSpan.FromMilliseconds(300);
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using RedisSlidingLogRateLimiter a = Limiter(ca, name, 10, new SlidingLogWindow(1, window));
        DateTimeOffset first = GrantedAt(await a.AcquireAsync());
        RateLimitLease zero = await Within(a.AcquireAsync(0).AsTask(), "the zero-permit request");
        Assert.That(GrantedAt(zero) - first, Is.GreaterThanOrEqualTo(window));
        Assert.That((await a.AcquireAsync()).IsAcquired, Is.True, "the zero-permit request took nothing");
        RateLimiterStatistics stats = a.GetStatistics()!;
        Assert.That(stats.TotalSuccessfulLeases, Is.EqualTo(3));
        Assert.That(stats.CurrentAvailablePermits, Is.Zero);
        Assert.That(a.IdleDuration, Is.Null, "a grant of this process is inside the window");
    }

    [Test]
    public async Task A_partitioned_limiter_shares_each_name_across_processes()
    {
        string prefix = UniqueName("part");
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using ConnectionMultiplexer cb = await ConnectAsync(_server);
        using PartitionedRateLimiter<string> pa = RedisRateLimitPartition.Create<string>(ca, r => prefix + r, (_, o) => o.Windows.Add(new(1, TimeSpan.FromSeconds(5))));
        using PartitionedRateLimiter<string> pb = RedisRateLimitPartition.Create<string>(cb, r => prefix + r, (_, o) => o.Windows.Add(new(1, TimeSpan.FromSeconds(5))));

        Assert.That((await pa.AcquireAsync("x")).IsAcquired, Is.True);
        Assert.That((await pb.AcquireAsync("x")).IsAcquired, Is.False, "same name, other process");
        Assert.That((await pb.AcquireAsync("y")).IsAcquired, Is.True, "another name");
    }

    [Test]
    public void Bad_options_are_rejected_naming_the_argument()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => new RedisSlidingLogRateLimiter(_admin, new RedisSlidingLogRateLimiterOptions { Windows = { new(1, TimeSpan.FromSeconds(1)) } }),
                Throws.ArgumentException.With.Property("ParamName").EqualTo("options"));
            Assert.That(() => new RedisSlidingLogRateLimiter(_admin, new RedisSlidingLogRateLimiterOptions { Name = "x" }),
                Throws.ArgumentException.With.Property("ParamName").EqualTo("options"));
            Assert.That(() => new RedisSlidingLogRateLimiter(_admin, new RedisSlidingLogRateLimiterOptions { Name = "x", Windows = { default } }),
                Throws.ArgumentException.With.Property("ParamName").EqualTo("options"));
            Assert.That(() => new RedisSlidingLogRateLimiter(null!, new RedisSlidingLogRateLimiterOptions { Name = "x" }),
                Throws.ArgumentNullException);
            Assert.That(() => new RedisSlidingLogRateLimiter(_admin, new RedisSlidingLogRateLimiterOptions { Name = "a{b}", Windows = { new(1, TimeSpan.FromSeconds(1)) } }),
                Throws.ArgumentException.With.Property("ParamName").EqualTo("options"));
            Assert.That(() => new RedisSlidingLogRateLimiter(_admin, new RedisSlidingLogRateLimiterOptions { Name = "x", LocalFallbackShare = 0, Windows = { new(1, TimeSpan.FromSeconds(1)) } }),
                Throws.InstanceOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("options"));
        });
    }

    [Test]
    public async Task Bad_arguments_leave_the_limiter_usable()
    {
        await using RedisSlidingLogRateLimiter a = Limiter(_admin, UniqueName("args"), 0, new SlidingLogWindow(2, TimeSpan.FromSeconds(1)));
        Assert.Throws<ArgumentException>(() => a.SetWindows());
        Assert.Throws<ArgumentOutOfRangeException>(() => a.AttemptAcquire(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => a.AcquireAsync(-1));
        Assert.That((await a.AcquireAsync(2)).IsAcquired, Is.True);
    }

    [Test]
    public void The_exactness_check_counts_every_window_position()
    {
        DateTimeOffset t = DateTimeOffset.UnixEpoch;
        TimeSpan w = TimeSpan.FromMilliseconds(300);
        Assert.That(WorstWindow([(t, 1), (t.AddMilliseconds(100), 1), (t.AddMilliseconds(299), 2)], w), Is.EqualTo(4));
        Assert.That(WorstWindow([(t, 1), (t.AddMilliseconds(300), 1), (t.AddMilliseconds(600), 1)], w), Is.EqualTo(1), "half-open windows");
        Assert.That(WorstWindow([(t.AddMilliseconds(500), 1), (t, 1), (t.AddMilliseconds(250), 1), (t.AddMilliseconds(520), 1)], w), Is.EqualTo(3), "unsorted input");
    }
}
