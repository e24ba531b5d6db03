using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;
using Polly;
using Polly.RateLimiting;
using static AsyncUtils.Tests.TestClock;

namespace AsyncUtils.Tests;

// Each test gets its own fake clock.
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public sealed class CompositionTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);

    private readonly FakeTimeProvider _time = new();

    [Test]
    public void It_serves_as_the_partition_limiter_of_a_PartitionedRateLimiter()
    {
        using PartitionedRateLimiter<string> perUser = PartitionedRateLimiter.Create<string, string>(user =>
            RateLimitPartition.Get(user, _ => Limiter(_time, 2, Second)));

        Assert.That(perUser.AttemptAcquire("alice").IsAcquired, Is.True);
        Assert.That(perUser.AttemptAcquire("alice").IsAcquired, Is.True);
        RateLimitLease refused = perUser.AttemptAcquire("alice");
        Assert.That(refused.IsAcquired, Is.False);
        Assert.That(RetryAfter(refused), Is.EqualTo(Second), "the partition's lease metadata comes through unchanged");
        Assert.That(perUser.AttemptAcquire("bob").IsAcquired, Is.True, "each partition has its own windows");
        Assert.That(perUser.GetStatistics("alice")!.CurrentAvailablePermits, Is.Zero);

        _time.Advance(Second);
        Assert.That(perUser.AttemptAcquire("alice").IsAcquired, Is.True);
    }

    [Test]
    public async Task A_queued_partition_request_is_woken_by_the_limiters_timer()
    {
        using PartitionedRateLimiter<string> perUser = PartitionedRateLimiter.Create<string, string>(user =>
            RateLimitPartition.Get(user, _ => Limiter(_time, 1, Second, queueLimit: 5)));
        Assert.That((await perUser.AcquireAsync("alice")).IsAcquired, Is.True);
        ValueTask<RateLimitLease> waiting = perUser.AcquireAsync("alice");
        Assert.That(waiting.IsCompleted, Is.False);
        _time.Advance(Second);
        Assert.That((await waiting.AsTask().WaitAsync(Bound)).IsAcquired, Is.True);
    }

    // ---- The composition hazard: a partition is retired when its limiter reports an idle time
    // above 10 s (PartitionedRateLimiter's heartbeat, every 100 ms of real time), and a fresh
    // limiter replaces it on the next request. ----

    [Test]
    public async Task Safe_pattern_one_limiter_with_several_windows_keeps_its_partition_while_a_grant_is_in_its_log()
    {
        var created = new List<(string Key, SlidingLogRateLimiter Limiter)>();
        using PartitionedRateLimiter<string> perUser = PartitionedRateLimiter.Create<string, string>(key =>
            RateLimitPartition.Get(key, k => Record(created, k, new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions
            {
                Windows = { new(1, TimeSpan.FromMinutes(1)), new(10, Second) },
                TimeProvider = _time,
            }))));

        Assert.That(perUser.AttemptAcquire("alice").IsAcquired, Is.True);
        _ = perUser.GetStatistics("probe"); // an idle partition, to see the heartbeat pass
        _time.Advance(TimeSpan.FromSeconds(30));
        await WaitUntilDisposedAsync(Single(created, "probe"));

        RateLimitLease again = perUser.AttemptAcquire("alice");
        Assert.That(again.IsAcquired, Is.False, "1 per minute: the partition was kept, its log still holds the grant of t=0");
        Assert.That(RetryAfter(again), Is.EqualTo(TimeSpan.FromSeconds(30)));
        Assert.That(created.Count(c => c.Key == "alice"), Is.EqualTo(1));
    }

    [Test]
    public async Task Safe_pattern_chained_partitioned_limiters_retire_each_partition_by_its_own_idle_time()
    {
        var created = new List<(string Key, SlidingLogRateLimiter Limiter)>();
        using PartitionedRateLimiter<string> perMinute = PartitionedRateLimiter.Create<string, string>(key =>
            RateLimitPartition.Get(key, k => Record(created, "minute:" + k, Limiter(_time, 1, TimeSpan.FromMinutes(1)))));
        using PartitionedRateLimiter<string> perSecond = PartitionedRateLimiter.Create<string, string>(key =>
            RateLimitPartition.Get(key, k => Record(created, "second:" + k, Limiter(_time, 10, Second))));
        using PartitionedRateLimiter<string> chained = PartitionedRateLimiter.CreateChained(perMinute, perSecond);

        Assert.That(chained.AttemptAcquire("alice").IsAcquired, Is.True);
        _ = perMinute.GetStatistics("probe");
        _time.Advance(TimeSpan.FromSeconds(30));
        await WaitUntilDisposedAsync(Single(created, "second:alice")); // idle for 29 s: retired, harmlessly
        await WaitUntilDisposedAsync(Single(created, "minute:probe"));

        Assert.That(chained.AttemptAcquire("alice").IsAcquired, Is.False, "the per-minute partition still holds the grant of t=0");
        Assert.That(created.Count(c => c.Key == "minute:alice"), Is.EqualTo(1));
    }

    [Test]
    public async Task Hazard_a_chained_limiter_as_a_partition_is_retired_while_our_log_holds_a_grant()
    {
        // MinIdleChain reports IdleDuration as the BCL's RateLimiter.CreateChained does: the lowest
        // non-null idle time of its members. Our null ("a grant is still in the log") is ignored.
        var chains = new List<MinIdleChain>();
        using PartitionedRateLimiter<string> perUser = PartitionedRateLimiter.Create<string, string>(key =>
            RateLimitPartition.Get(key, _ =>
            {
                var chain = new MinIdleChain(Limiter(_time, 1, TimeSpan.FromMinutes(1)), Limiter(_time, 10, Second));
                lock (chains)
                {
                    chains.Add(chain);
                }

                return chain;
            }));

        Assert.That(perUser.AttemptAcquire("alice").IsAcquired, Is.True);
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.That(chains[0].IdleDuration, Is.EqualTo(TimeSpan.FromSeconds(29)), "the per-second member's idle time; the per-minute member says null");
        await WaitUntilAsync(() => chains[0].IsDisposed);

        Assert.That(perUser.AttemptAcquire("alice").IsAcquired, Is.True, "the hazard: a fresh chain grants a second permit 30 s into the minute");
    }

    private static SlidingLogRateLimiter Record(List<(string Key, SlidingLogRateLimiter Limiter)> created, string key, SlidingLogRateLimiter limiter)
    {
        lock (created)
        {
            created.Add((key, limiter));
        }

        return limiter;
    }

    private static SlidingLogRateLimiter Single(List<(string Key, SlidingLogRateLimiter Limiter)> created, string key)
    {
        lock (created)
        {
            return created.Single(c => c.Key == key).Limiter;
        }
    }

    private static Task WaitUntilDisposedAsync(SlidingLogRateLimiter limiter) => WaitUntilAsync(() =>
    {
        try
        {
            _ = limiter.GetStatistics();
            return false;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
    });

    /// <summary>Polls (real time: the partitioned limiter's heartbeat runs on a real timer) for at most 10 s.</summary>
    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "the partitioned limiter's heartbeat never retired the partition");
            await Task.Delay(20);
        }
    }

    /// <summary>
    /// A chain of limiters whose <see cref="IdleDuration"/> follows the rule of the BCL's
    /// <c>RateLimiter.CreateChained</c> (System.Threading.RateLimiting 10): the lowest non-null
    /// idle time of its members. Acquiring takes from every member or from none.
    /// </summary>
    private sealed class MinIdleChain(params System.Threading.RateLimiting.RateLimiter[] members) : System.Threading.RateLimiting.RateLimiter
    {
        private volatile bool _disposed;

        public bool IsDisposed => _disposed;

        public override TimeSpan? IdleDuration
        {
            get
            {
                TimeSpan? lowest = null;
                foreach (System.Threading.RateLimiting.RateLimiter member in members)
                {
                    if (member.IdleDuration is { } idle && (lowest is null || idle < lowest))
                    {
                        lowest = idle;
                    }
                }

                return lowest;
            }
        }

        public override RateLimiterStatistics? GetStatistics() => null;

        protected override RateLimitLease AttemptAcquireCore(int permitCount)
        {
            var leases = new List<RateLimitLease>();
            foreach (System.Threading.RateLimiting.RateLimiter member in members)
            {
                RateLimitLease lease = member.AttemptAcquire(permitCount);
                if (!lease.IsAcquired)
                {
                    leases.ForEach(l => l.Dispose());
                    return lease;
                }

                leases.Add(lease);
            }

            return leases[^1];
        }

        protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken) =>
            new(AttemptAcquireCore(permitCount));

        protected override void Dispose(bool disposing)
        {
            _disposed = true;
            base.Dispose(disposing);
        }
    }

    [Test]
    public async Task A_Polly_pipeline_rejects_with_the_exact_retry_after()
    {
        using var limiter = Limiter(_time, 2, Second);
        ResiliencePipeline pipeline = new ResiliencePipelineBuilder().AddRateLimiter(limiter).Build();
        int calls = 0;

        await pipeline.ExecuteAsync(_ => { calls++; return ValueTask.CompletedTask; });
        _time.Advance(TimeSpan.FromMilliseconds(400));
        await pipeline.ExecuteAsync(_ => { calls++; return ValueTask.CompletedTask; });
        var rejected = await Assert.ThrowsAsync<RateLimiterRejectedException>(
            async () => await pipeline.ExecuteAsync(_ => { calls++; return ValueTask.CompletedTask; }));

        Assert.That(calls, Is.EqualTo(2));
        Assert.That(rejected!.RetryAfter, Is.EqualTo(TimeSpan.FromMilliseconds(600)), "the first call leaves the window at t=1s");
        _time.Advance(TimeSpan.FromMilliseconds(600));
        await pipeline.ExecuteAsync(_ => { calls++; return ValueTask.CompletedTask; });
        Assert.That(calls, Is.EqualTo(3));
    }

    [Test]
    public async Task A_Polly_pipeline_waits_in_the_limiters_queue()
    {
        using var limiter = Limiter(_time, 1, Second, queueLimit: 1);
        ResiliencePipeline pipeline = new ResiliencePipelineBuilder().AddRateLimiter(limiter).Build();
        await pipeline.ExecuteAsync(_ => ValueTask.CompletedTask);
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task second = pipeline.ExecuteAsync(_ => { ran.SetResult(); return ValueTask.CompletedTask; }).AsTask();
        Assert.That(ran.Task.IsCompleted, Is.False);
        _time.Advance(Second);
        await ran.Task.WaitAsync(Bound);
        await second.WaitAsync(Bound);
    }

    [Test]
    public async Task EnterAsync_holds_a_permit_for_an_await_using_block()
    {
        using var limiter = Limiter(_time, 1, Second, queueLimit: 1);
        await using (RateLimitScope scope = await limiter.EnterAsync())
        {
            Assert.That(scope.Lease.IsAcquired, Is.True);
        }

        ValueTask<RateLimitScope> waiting = limiter.EnterAsync(CancellationToken.None);
        Assert.That(waiting.IsCompleted, Is.False, "the block waits for a slot");
        var rejected = await Assert.ThrowsAsync<RateLimitRejectedException>(async () => await limiter.EnterAsync(1, CancellationToken.None));
        Assert.That(rejected!.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(2)), "a full queue throws with the exact wait: after the queued request is served at 1 s");
        Assert.That(rejected.Reason, Is.Not.Null);

        _time.Advance(Second);
        using RateLimitScope entered = await waiting.AsTask().WaitAsync(Bound);
        Assert.That(entered.Lease.IsAcquired, Is.True);
    }

    [Test]
    public async Task EnterAsync_works_with_any_BCL_limiter_and_returns_permits_of_a_concurrency_limiter()
    {
        using var concurrency = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 0 });
        using (await concurrency.EnterAsync())
        {
            await Assert.ThrowsAsync<RateLimitRejectedException>(async () => await concurrency.EnterAsync());
        }

        using RateLimitScope again = await concurrency.EnterAsync();
        Assert.That(again.Lease.IsAcquired, Is.True, "disposing the scope returned the permit");
    }

    [Test]
    public async Task EnterAsync_rejects_a_null_limiter_and_honours_cancellation()
    {
        Assert.Throws<ArgumentNullException>(() => _ = RateLimiterExtensions.EnterAsync(null!));
        using var limiter = Limiter(_time, 1, Second, queueLimit: 1);
        limiter.AttemptAcquire();
        using var cts = new CancellationTokenSource();
        ValueTask<RateLimitScope> waiting = limiter.EnterAsync(cts.Token);
        cts.Cancel();
        await Assert.CatchAsync<OperationCanceledException>(async () => await waiting);
    }
}
