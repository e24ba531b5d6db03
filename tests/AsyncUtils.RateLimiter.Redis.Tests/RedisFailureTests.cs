using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.RateLimiting;
using AsyncUtils.Testing;
using StackExchange.Redis;
using static AsyncUtils.Tests.RedisTestSupport;

namespace AsyncUtils.Tests;

/// <summary>Redis killed and restarted under the limiter: each test owns its server.</summary>
public sealed class RedisFailureTests
{
    private RedisServer _server = null!;

    [SetUp]
    public void StartServer() => _server = RedisServer.Start();

    [TearDown]
    public void StopServer() => _server.Dispose();

    [Test]
    public async Task AttemptAcquire_does_no_IO_and_refuses_with_a_reason_while_the_server_is_killed()
    {
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using RedisSlidingLogRateLimiter a = Limiter(ca, UniqueName("noio"), 0, new SlidingLogWindow(1, TimeSpan.FromSeconds(3)));
        Assert.That((await a.AcquireAsync()).IsAcquired, Is.True);

        _server.Kill();
        var watch = Stopwatch.StartNew();
        RateLimitLease lease = a.AttemptAcquire();
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromMilliseconds(200)), "no round trip");
        Assert.That(lease.IsAcquired, Is.False);
        Assert.That(Reason(lease), Is.Not.Null.And.Not.Empty);
        Assert.That(RetryAfter(lease), Is.GreaterThan(TimeSpan.FromSeconds(2)), "from the last answer of Redis");
    }

    [Test]
    public async Task Closed_mode_never_over_grants_across_a_restart_and_leaves_no_waiter_stuck()
    {
        const int Limit = 4;
        TimeSpan window = TimeSpan.FromMilliseconds(300);
        string name = UniqueName("closed");
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using ConnectionMultiplexer cb = await ConnectAsync(_server);
        await using RedisSlidingLogRateLimiter a = Limiter(ca, name, 100, new SlidingLogWindow(Limit, window));
        await using RedisSlidingLogRateLimiter b = Limiter(cb, name, 100, new SlidingLogWindow(Limit, window));

        var grants = new ConcurrentBag<(DateTimeOffset, int)>();
        var waiters = new List<Task<RateLimitLease>>();
        for (int i = 0; i < 12; i++)
        {
            RedisSlidingLogRateLimiter limiter = i % 2 == 0 ? a : b;
            waiters.Add(limiter.AcquireAsync().AsTask());
        }

        // Let a window of grants happen, then kill the server with requests queued.
        await WaitUntilAsync(() => waiters.Count(w => w.IsCompleted) >= Limit, "the first grants");
        _server.Kill();
        await WaitUntilAsync(() => !ca.IsConnected, "the connection notices");
        RateLimitLease refused = await a.AcquireAsync();
        Assert.That(refused.IsAcquired, Is.False, "a new request is refused while Redis is down");
        Assert.That(Reason(refused), Does.Contain("Closed"));
        int completedWhileDown = waiters.Count(w => w.IsCompleted);
        await Task.Delay(window * 2);
        Assert.That(waiters.Count(w => w.IsCompleted), Is.EqualTo(completedWhileDown), "nothing granted without Redis");

        _server.Restart();
        foreach (Task<RateLimitLease> w in waiters)
        {
            RateLimitLease lease = await Within(w, "a queued request after the restart");
            Assert.That(lease.IsAcquired, Is.True, Reason(lease));
            grants.Add((GrantedAt(lease), 1));
        }

        Assert.That(WorstWindow([.. grants], window), Is.LessThanOrEqualTo(Limit));
        await using ConnectionMultiplexer check = await ConnectAsync(_server);
        Assert.That(
            await check.GetDatabase().SortedSetLengthAsync(a.Keys[8]),
            Is.EqualTo(waiters.Count - completedWhileDown),
            "the restarted server granted each waiter that was still queued exactly once");

        // The restarted server lost the log: grants after it waited out the quarantine of one window.
        DateTimeOffset lastBefore = grants.Select(g => g.Item1).OrderBy(t => t).ElementAt(completedWhileDown - 1);
        DateTimeOffset firstAfter = grants.Select(g => g.Item1).OrderBy(t => t).ElementAt(completedWhileDown);
        Assert.That(firstAfter - lastBefore, Is.GreaterThanOrEqualTo(window), "quarantine after the lost log");
    }

    [Test]
    public async Task A_queued_request_cancelled_while_Redis_is_down_completes_at_once_and_is_never_granted()
    {
        TimeSpan window = TimeSpan.FromMilliseconds(300);
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using RedisSlidingLogRateLimiter a = Limiter(ca, UniqueName("downcancel"), 10, new SlidingLogWindow(1, window));
        Assert.That((await a.AcquireAsync()).IsAcquired, Is.True);
        using var cts = new CancellationTokenSource();
        Task<RateLimitLease> queued = a.AcquireAsync(1, cts.Token).AsTask();
        await WaitUntilAsync(() => a.ServerQueuedCount == 1, "queued");

        _server.Kill();
        await WaitUntilAsync(() => !ca.IsConnected, "the connection notices");
        await Task.Delay(window);
        Assert.That(queued.IsCompleted, Is.False, "a queued request keeps waiting while Redis is down");
        await cts.CancelAsync();
        await Assert.ThrowsAsync<TaskCanceledException>(async () => await queued.WaitAsync(TimeSpan.FromSeconds(1)));

        _server.Restart();
        await WaitUntilAsync(() => ca.IsConnected, "reconnected");
        await using ConnectionMultiplexer check = await ConnectAsync(_server);
        await Task.Delay(window);
        Assert.That(await check.GetDatabase().SortedSetLengthAsync(a.Keys[4]), Is.Zero, "no ticket left behind");
        Assert.That(await check.GetDatabase().SortedSetLengthAsync(a.Keys[0]), Is.Zero, "nothing granted for it");
    }

    [Test]
    public async Task A_restart_that_loses_the_log_refuses_for_one_window()
    {
        TimeSpan window = TimeSpan.FromMilliseconds(500);
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using RedisSlidingLogRateLimiter a = Limiter(ca, UniqueName("restart"), 0, new SlidingLogWindow(5, window));
        Assert.That((await a.AcquireAsync()).IsAcquired, Is.True);

        _server.Restart();
        await WaitUntilAsync(() => ca.IsConnected, "reconnected");
        RateLimitLease lease = await a.AcquireAsync();
        for (int i = 0; i < 50 && !lease.IsAcquired && Reason(lease)?.Contains("Closed") == true; i++)
        {
            await Task.Delay(20);
            lease = await a.AcquireAsync();
        }

        Assert.That(lease.IsAcquired, Is.False);
        Assert.That(Reason(lease), Does.Contain("quarantine"));
        Assert.That(RetryAfter(lease), Is.GreaterThan(TimeSpan.Zero).And.LessThanOrEqualTo(window));
        await Task.Delay(RetryAfter(lease) + TimeSpan.FromMilliseconds(15));
        Assert.That((await a.AcquireAsync()).IsAcquired, Is.True);
    }

    [Test]
    public async Task Open_mode_grants_while_Redis_is_unreachable()
    {
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using RedisSlidingLogRateLimiter a = Limiter(ca, UniqueName("open"), 0, RedisRateLimiterFailureMode.Open, null, new SlidingLogWindow(1, TimeSpan.FromSeconds(5)));
        Assert.That((await a.AcquireAsync()).IsAcquired, Is.True);
        Assert.That((await a.AcquireAsync()).IsAcquired, Is.False, "Redis decides while it is up");

        _server.Kill();
        await WaitUntilAsync(() => !ca.IsConnected, "the connection notices");
        RateLimitLease lease = await a.AcquireAsync();
        Assert.That(lease.IsAcquired, Is.True);
        Assert.That(Reason(lease), Does.Contain("Open"));
        Assert.That(lease.TryGetMetadata(RedisRateLimitMetadata.GrantedAt, out DateTimeOffset _), Is.False, "not a Redis grant");
        Assert.That(a.AttemptAcquire().IsAcquired, Is.True);
    }

    [Test]
    public async Task LocalFallback_holds_off_for_the_longest_window_then_grants_its_share_locally()
    {
        TimeSpan window = TimeSpan.FromMilliseconds(300);
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        var options = new RedisSlidingLogRateLimiterOptions
        {
            Name = UniqueName("fallback"),
            FailureMode = RedisRateLimiterFailureMode.LocalFallback,
            LocalFallbackShare = 0.5,
            Windows = { new SlidingLogWindow(4, window) },
        };
        await using var a = new RedisSlidingLogRateLimiter(ca, options);
        Assert.That((await a.AcquireAsync()).IsAcquired, Is.True);

        _server.Kill();
        await WaitUntilAsync(() => !ca.IsConnected, "the connection notices");
        RateLimitLease held = await a.AcquireAsync();
        Assert.That(held.IsAcquired, Is.False);
        Assert.That(Reason(held), Does.Contain("hold-off"));

        await Task.Delay(window + TimeSpan.FromMilliseconds(20));
        Assert.That((await a.AcquireAsync()).IsAcquired, Is.True, "the local share: 2 of 4");
        Assert.That(a.AttemptAcquire().IsAcquired, Is.True);
        RateLimitLease refused = await a.AcquireAsync();
        Assert.That(refused.IsAcquired, Is.False, "the share is used up");
        Assert.That(RetryAfter(refused), Is.GreaterThan(TimeSpan.Zero));
    }

    [Test]
    public async Task LocalFallback_serves_a_request_queued_before_the_outage_after_the_hold_off()
    {
        TimeSpan window = TimeSpan.FromMilliseconds(300);
        await using ConnectionMultiplexer ca = await ConnectAsync(_server);
        await using RedisSlidingLogRateLimiter a = Limiter(ca, UniqueName("fallbackqueued"), 10, RedisRateLimiterFailureMode.LocalFallback, null, new SlidingLogWindow(1, window));
        Assert.That((await a.AcquireAsync()).IsAcquired, Is.True);
        Task<RateLimitLease> queued = a.AcquireAsync().AsTask();
        await WaitUntilAsync(() => a.ServerQueuedCount == 1, "queued");

        var watch = Stopwatch.StartNew();
        _server.Kill();
        RateLimitLease lease = await Within(queued, "the queued request");
        Assert.That(lease.IsAcquired, Is.True);
        Assert.That(Reason(lease), Does.Contain("local fallback"));
        Assert.That(watch.Elapsed, Is.GreaterThanOrEqualTo(window - TimeSpan.FromMilliseconds(50)), "not before the hold-off");
    }
}
