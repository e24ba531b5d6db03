using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;
using Polly;
using Polly.RateLimiting;
using static AsyncUtils.RateLimiter.Tests.TestClock;

namespace AsyncUtils.RateLimiter.Tests;

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
        Assert.That(rejected!.RetryAfter, Is.EqualTo(Second), "a full queue throws with the exact wait");
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
