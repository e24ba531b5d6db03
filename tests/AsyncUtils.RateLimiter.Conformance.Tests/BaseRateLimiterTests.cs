// Ported from dotnet/runtime, src/libraries/System.Threading.RateLimiting/tests/BaseRateLimiterTests.cs
// (the list of cases every RateLimiter implements), with each case's body taken from that
// contract's sliding-window implementation in
// src/libraries/System.Threading.RateLimiting/tests/SlidingWindowRateLimiterTests.cs.
// Licensed to the .NET Foundation under the MIT license; adapted for AsyncUtils.
//
// How the cases were mapped:
// - Each SlidingWindowRateLimiterOptions becomes a SlidingLogRateLimiter whose period is
//   SegmentsPerWindow milliseconds, on a FakeTimeProvider, and each Replenish(limiter, 1) becomes a
//   1 ms advance of that clock. The BCL limiter frees a permit SegmentsPerWindow replenishes after
//   it was granted; ours frees it exactly one period after; so the timing of every case is the
//   same. xUnit's Assert becomes NUnit's.
// - QueueProcessingOrder is dropped: our queue is always oldest first, on purpose (the README
//   says why). The NewestFirst cases are kept with the same steps and state our behaviour; every
//   assertion that differs is marked "Adapted:".
// - Every other difference is marked "Adapted:" with the reason.
using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Conformance.Tests;

[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public sealed class BaseRateLimiterTests
{
    private readonly FakeTimeProvider _time = new();

    /// <summary>A limiter whose period is <paramref name="segmentsPerWindow"/> ms: one upstream replenish per millisecond.</summary>
    private SlidingLogRateLimiter Create(int permitLimit, int queueLimit, int segmentsPerWindow) =>
        new(new SlidingLogRateLimiterOptions
        {
            Windows = { new SlidingLogWindow(permitLimit, TimeSpan.FromMilliseconds(segmentsPerWindow)) },
            QueueLimit = queueLimit,
            TimeProvider = _time,
        });

    // Adapted: upstream calls the limiter's internal ReplenishInternal by reflection; here time passes on a fake clock.
    private void Replenish(SlidingLogRateLimiter limiter, long addMilliseconds)
    {
        _ = limiter;
        _time.Advance(TimeSpan.FromMilliseconds(addMilliseconds));
    }

    [Test]
    public void CanAcquireResource()
    {
        using var limiter = Create(1, 1, 2);
        var lease = limiter.AttemptAcquire();

        Assert.That(lease.IsAcquired, Is.True);
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.False);

        lease.Dispose();
        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.False);
        Replenish(limiter, 1L);
        Replenish(limiter, 1L);

        Assert.That(limiter.AttemptAcquire().IsAcquired, Is.True);
    }

    [Test]
    public void InvalidOptionsThrows()
    {
        // Adapted: our limits live in SlidingLogWindow, whose constructor names its own argument;
        // there are no segments. The queue limit is checked by the limiter, naming "options".
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SlidingLogWindow(-1, TimeSpan.FromMinutes(2)))!.ParamName, Is.EqualTo("permitLimit"));
        Assert.That(
            Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SlidingLogRateLimiter(new SlidingLogRateLimiterOptions { Windows = { new(1, TimeSpan.FromMinutes(2)) }, QueueLimit = -1 }))!.ParamName,
            Is.EqualTo("options"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SlidingLogWindow(1, TimeSpan.MinValue))!.ParamName, Is.EqualTo("period"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SlidingLogWindow(1, TimeSpan.FromMinutes(-2)))!.ParamName, Is.EqualTo("period"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SlidingLogWindow(1, TimeSpan.Zero))!.ParamName, Is.EqualTo("period"));
    }

    [Test]
    public async Task CanAcquireResourceAsync()
    {
        using var limiter = Create(2, 4, 2);

        using var lease = await limiter.AcquireAsync();

        Assert.That(lease.IsAcquired, Is.True);
        var wait = limiter.AcquireAsync(2);
        Assert.That(wait.IsCompleted, Is.False);

        Replenish(limiter, 1L);

        Assert.That(wait.IsCompleted, Is.False);

        var wait2 = limiter.AcquireAsync(2);
        Assert.That(wait2.IsCompleted, Is.False);

        Replenish(limiter, 1L);

        // Adapted: upstream uses NewestFirst, so wait2 is served first; we serve the oldest first.
        Assert.That((await wait).IsAcquired, Is.True);
        Assert.That(wait2.IsCompleted, Is.False);
        Replenish(limiter, 2L);
        Assert.That((await wait2).IsAcquired, Is.True);
    }

    [Test]
    public async Task CanAcquireResourceAsync_QueuesAndGrabsOldest()
    {
        using var limiter = Create(2, 3, 2);
        var lease = await limiter.AcquireAsync(2);

        Assert.That(lease.IsAcquired, Is.True);
        var wait1 = limiter.AcquireAsync();
        var wait2 = limiter.AcquireAsync(2);
        Assert.That(wait1.IsCompleted, Is.False);
        Assert.That(wait2.IsCompleted, Is.False);

        lease.Dispose();
        Replenish(limiter, 1L);

        Assert.That(wait1.IsCompleted, Is.False);
        Replenish(limiter, 1L);

        lease = await wait1;
        Assert.That(lease.IsAcquired, Is.True);
        Assert.That(wait2.IsCompleted, Is.False);

        lease.Dispose();
        Assert.That(limiter.GetStatistics()!.CurrentAvailablePermits, Is.EqualTo(1));
        Replenish(limiter, 1L);
        Replenish(limiter, 1L);

        lease = await wait2;
        Assert.That(lease.IsAcquired, Is.True);
    }

    [Test]
    public async Task CanAcquireResourceAsync_QueuesAndGrabsNewest()
    {
        using var limiter = Create(2, 3, 2);

        var lease = await limiter.AcquireAsync(2);
        Assert.That(lease.IsAcquired, Is.True);

        var wait1 = limiter.AcquireAsync(2);
        var wait2 = limiter.AcquireAsync();
        Assert.That(wait1.IsCompleted, Is.False);
        Assert.That(wait2.IsCompleted, Is.False);

        lease.Dispose();
        Replenish(limiter, 1L);
        Assert.That(wait2.IsCompleted, Is.False);

        Replenish(limiter, 1L);

        // Adapted: no NewestFirst: the first queued item completes first, taking both permits.
        lease = await wait1;
        Assert.That(lease.IsAcquired, Is.True);
        Assert.That(wait2.IsCompleted, Is.False);

        lease.Dispose();
        Assert.That(limiter.GetStatistics()!.CurrentAvailablePermits, Is.Zero); // Adapted: wait1 took two permits, not wait2 one.
        Replenish(limiter, 1L);
        Replenish(limiter, 1L);

        lease = await wait2;
        Assert.That(lease.IsAcquired, Is.True);
    }

    [Test]
    public async Task FailsWhenQueuingMoreThanLimit_OldestFirst()
    {
        using var limiter = Create(1, 1, 2);

        using var lease = limiter.AttemptAcquire(1);
        var wait = limiter.AcquireAsync(1);

        var failedLease = await limiter.AcquireAsync(1);
        Assert.That(failedLease.IsAcquired, Is.False);
        Assert.That(failedLease.TryGetMetadata(MetadataName.RetryAfter, out var timeSpan), Is.True);

        // Adapted: upstream expects the window (a lower bound). Ours is exact: the queued request is
        // served when the first grant leaves at 2 ms, so this one could be granted at 4 ms.
        Assert.That(timeSpan, Is.EqualTo(TimeSpan.FromMilliseconds(4)));
        Assert.That(wait.IsCompleted, Is.False);
    }

    [Test]
    public async Task DropsOldestWhenQueuingMoreThanLimit_NewestFirst()
    {
        using var limiter = Create(1, 1, 2);
        var lease = limiter.AttemptAcquire(1);
        var wait = limiter.AcquireAsync(1);
        Assert.That(wait.IsCompleted, Is.False);

        // Adapted: no NewestFirst: the newcomer, not the queued request, is refused.
        var wait2 = limiter.AcquireAsync(1);
        Assert.That(wait2.IsCompleted, Is.True);
        Assert.That((await wait2).IsAcquired, Is.False);
        Assert.That(wait.IsCompleted, Is.False);

        Replenish(limiter, 1L);
        Replenish(limiter, 1L);

        lease = await wait;
        Assert.That(lease.IsAcquired, Is.True);
    }

    [Test]
    public async Task DropsMultipleOldestWhenQueuingMoreThanLimit_NewestFirst()
    {
        using var limiter = Create(2, 2, 2);
        var lease = limiter.AttemptAcquire(2);
        Assert.That(lease.IsAcquired, Is.True);
        var wait = limiter.AcquireAsync(1);
        Assert.That(wait.IsCompleted, Is.False);

        var wait2 = limiter.AcquireAsync(1);
        Assert.That(wait2.IsCompleted, Is.False);

        // Adapted: no NewestFirst: the newcomer is refused and the two queued requests stay.
        var wait3 = limiter.AcquireAsync(2);
        Assert.That((await wait3).IsAcquired, Is.False);
        Assert.That(wait.IsCompleted || wait2.IsCompleted, Is.False);

        Replenish(limiter, 1L);
        Replenish(limiter, 1L);

        Assert.That((await wait).IsAcquired, Is.True);
        Assert.That((await wait2).IsAcquired, Is.True);
    }

    [Test]
    public async Task DropsRequestedLeaseIfPermitCountGreaterThanQueueLimitAndNoAvailability_NewestFirst()
    {
        using var limiter = Create(2, 1, 2);
        var lease = limiter.AttemptAcquire(2);
        Assert.That(lease.IsAcquired, Is.True);

        // Fill queue
        var wait = limiter.AcquireAsync(1);
        Assert.That(wait.IsCompleted, Is.False);

        var lease1 = await limiter.AcquireAsync(2);
        Assert.That(lease1.IsAcquired, Is.False);

        Replenish(limiter, 1L);
        Replenish(limiter, 1L);

        lease = await wait;
        Assert.That(lease.IsAcquired, Is.True);
    }

    [Test]
    public async Task QueueAvailableAfterQueueLimitHitAndResources_BecomeAvailable()
    {
        using var limiter = Create(3, 2, 3);
        var lease = limiter.AttemptAcquire(2);
        var wait = limiter.AcquireAsync(2);

        var failedLease = await limiter.AcquireAsync(2);
        Assert.That(failedLease.IsAcquired, Is.False);

        Replenish(limiter, 1L);
        Replenish(limiter, 1L);
        Assert.That(wait.IsCompleted, Is.False);

        Replenish(limiter, 1L);
        lease = await wait;
        Assert.That(lease.IsAcquired, Is.True);

        wait = limiter.AcquireAsync(2);
        Assert.That(wait.IsCompleted, Is.False);

        Replenish(limiter, 1L);
        Replenish(limiter, 1L);
        Replenish(limiter, 1L);

        lease = await wait;
        Assert.That(lease.IsAcquired, Is.True);
    }

    [Test]
    public async Task LargeAcquiresAndQueuesDoNotIntegerOverflow()
    {
        using var limiter = Create(int.MaxValue, int.MaxValue, 2);
        var lease = limiter.AttemptAcquire(int.MaxValue);
        Assert.That(lease.IsAcquired, Is.True);

        // Fill queue
        var wait = limiter.AcquireAsync(3);
        Assert.That(wait.IsCompleted, Is.False);

        // Adapted: no NewestFirst: the request that does not fit in the queue is refused (the queue
        // counts in 64 bits, so 3 + int.MaxValue does not overflow), and the queued one stays.
        var wait2 = limiter.AcquireAsync(int.MaxValue);
        Assert.That((await wait2).IsAcquired, Is.False);
        Assert.That(wait.IsCompleted, Is.False);

        Replenish(limiter, 1L);
        Replenish(limiter, 1L);
        var lease1 = await wait;
        Assert.That(lease1.IsAcquired, Is.True);
    }

    [Test]
    public void ThrowsWhenAcquiringMoreThanLimit()
    {
        using var limiter = Create(1, 1, 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => limiter.AttemptAcquire(2));
    }

    [Test]
    public async Task ThrowsWhenWaitingForMoreThanLimit()
    {
        using var limiter = Create(1, 1, 1);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await limiter.AcquireAsync(2));
    }

    [Test]
    public void ThrowsWhenAcquiringLessThanZero()
    {
        using var limiter = Create(1, 1, 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => limiter.AttemptAcquire(-1));
    }

    [Test]
    public async Task ThrowsWhenWaitingForLessThanZero()
    {
        using var limiter = Create(1, 1, 1);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await limiter.AcquireAsync(-1));
    }

    [Test]
    public void AcquireZero_WithAvailability()
    {
        using var limiter = Create(1, 1, 1);

        using var lease = limiter.AttemptAcquire(0);
        Assert.That(lease.IsAcquired, Is.True);
    }

    [Test]
    public void AcquireZero_WithoutAvailability()
    {
        using var limiter = Create(1, 1, 1);
        using var lease = limiter.AttemptAcquire(1);
        Assert.That(lease.IsAcquired, Is.True);

        var lease2 = limiter.AttemptAcquire(0);
        Assert.That(lease2.IsAcquired, Is.False);
        lease2.Dispose();
    }

    [Test]
    public async Task AcquireAsyncZero_WithAvailability()
    {
        using var limiter = Create(1, 1, 1);

        using var lease = await limiter.AcquireAsync(0);
        Assert.That(lease.IsAcquired, Is.True);
    }

    [Test]
    public async Task AcquireAsyncZero_WithoutAvailabilityWaitsForAvailability()
    {
        using var limiter = Create(1, 1, 2);
        var lease = await limiter.AcquireAsync(1);
        Assert.That(lease.IsAcquired, Is.True);

        var wait = limiter.AcquireAsync(0);
        Assert.That(wait.IsCompleted, Is.False);

        lease.Dispose();
        Replenish(limiter, 1L);
        Replenish(limiter, 1L);
        using var lease2 = await wait;
        Assert.That(lease2.IsAcquired, Is.True);
    }

    [Test]
    public async Task CanDequeueMultipleResourcesAtOnce()
    {
        using var limiter = Create(2, 4, 2);
        using var lease = await limiter.AcquireAsync(2);
        Assert.That(lease.IsAcquired, Is.True);

        var wait1 = limiter.AcquireAsync(1);
        var wait2 = limiter.AcquireAsync(1);
        Assert.That(wait1.IsCompleted, Is.False);
        Assert.That(wait2.IsCompleted, Is.False);

        lease.Dispose();
        Replenish(limiter, 1L);
        Replenish(limiter, 1L);

        var lease1 = await wait1;
        var lease2 = await wait2;
        Assert.That(lease1.IsAcquired, Is.True);
        Assert.That(lease2.IsAcquired, Is.True);
    }

    [Test]
    public async Task CanCancelAcquireAsyncAfterQueuing()
    {
        using var limiter = Create(2, 1, 2);
        var lease = limiter.AttemptAcquire(2);
        Assert.That(lease.IsAcquired, Is.True);

        using var cts = new CancellationTokenSource();
        var wait = limiter.AcquireAsync(1, cts.Token);

        cts.Cancel();
        var ex = await Assert.ThrowsAsync<TaskCanceledException>(() => wait.AsTask());
        Assert.That(ex!.CancellationToken, Is.EqualTo(cts.Token));

        lease.Dispose();
        Replenish(limiter, 1L);

        Assert.That(limiter.GetStatistics()!.CurrentAvailablePermits, Is.Zero);
    }

    [Test]
    public async Task CanFillQueueWithOldestFirstAfterCancelingFirstQueuedRequestManually()
    {
        using var limiter = Create(3, 3, 2);

        var lease = limiter.AttemptAcquire(1);
        Assert.That(lease.IsAcquired, Is.True);
        Replenish(limiter, 1L);

        lease = limiter.AttemptAcquire(2);
        Assert.That(lease.IsAcquired, Is.True);

        using var cts = new CancellationTokenSource();
        var wait = limiter.AcquireAsync(2, cts.Token);
        cts.Cancel();

        var ex = await Assert.ThrowsAsync<TaskCanceledException>(() => wait.AsTask());
        Assert.That(ex!.CancellationToken, Is.EqualTo(cts.Token));

        var wait2 = limiter.AcquireAsync(1);
        Replenish(limiter, 1L);

        lease = await wait2;
        Assert.That(lease.IsAcquired, Is.True);

        Assert.That(limiter.GetStatistics()!.CurrentAvailablePermits, Is.Zero);
        Assert.That(limiter.GetStatistics()!.CurrentQueuedCount, Is.Zero);
    }

    [Test]
    public async Task CanCancelAcquireAsyncBeforeQueuing()
    {
        using var limiter = Create(2, 1, 2);
        var lease = limiter.AttemptAcquire(2);
        Assert.That(lease.IsAcquired, Is.True);

        using var cts = new CancellationTokenSource();
        cts.Cancel();

        var ex = await Assert.ThrowsAsync<TaskCanceledException>(() => limiter.AcquireAsync(1, cts.Token).AsTask());
        Assert.That(ex!.CancellationToken, Is.EqualTo(cts.Token));

        lease.Dispose();
        Replenish(limiter, 1L);

        Assert.That(limiter.GetStatistics()!.CurrentAvailablePermits, Is.Zero);
    }

    [Test]
    public async Task CancelUpdatesQueueLimit()
    {
        using var limiter = Create(2, 1, 2);
        var lease = limiter.AttemptAcquire(2);
        Assert.That(lease.IsAcquired, Is.True);

        using var cts = new CancellationTokenSource();
        var wait = limiter.AcquireAsync(1, cts.Token);

        cts.Cancel();
        var ex = await Assert.ThrowsAsync<TaskCanceledException>(() => wait.AsTask());
        Assert.That(ex!.CancellationToken, Is.EqualTo(cts.Token));

        wait = limiter.AcquireAsync(1);
        Assert.That(wait.IsCompleted, Is.False);

        Replenish(limiter, 1L);
        Replenish(limiter, 1L);

        lease = await wait;
        Assert.That(lease.IsAcquired, Is.True);
        Assert.That(limiter.GetStatistics()!.CurrentAvailablePermits, Is.EqualTo(1));
    }

    [Test]
    public void NoMetadataOnAcquiredLease()
    {
        using var limiter = Create(1, 1, 2);
        using var lease = limiter.AttemptAcquire(1);

        // Adapted: on purpose, every lease of ours carries RetryAfter, a granted one too: the time
        // until the next permit frees (here the one just granted, one period from now).
        Assert.That(lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan retryAfter), Is.True);
        Assert.That(retryAfter, Is.EqualTo(TimeSpan.FromMilliseconds(2)));
    }

    [Test]
    public void MetadataNamesContainsAllMetadata()
    {
        using var limiter = Create(1, 1, 1);
        using var lease = limiter.AttemptAcquire(1);
        Assert.That(lease.MetadataNames, Is.EqualTo(new[] { MetadataName.RetryAfter.Name }));
    }

    [Test]
    public async Task DisposeReleasesQueuedAcquires()
    {
        var limiter = Create(1, 3, 1);
        var lease = limiter.AttemptAcquire(1);
        var wait1 = limiter.AcquireAsync(1);
        var wait2 = limiter.AcquireAsync(1);
        var wait3 = limiter.AcquireAsync(1);
        Assert.That(wait1.IsCompleted, Is.False);
        Assert.That(wait2.IsCompleted, Is.False);
        Assert.That(wait3.IsCompleted, Is.False);

        limiter.Dispose();

        lease = await wait1;
        Assert.That(lease.IsAcquired, Is.False);
        lease = await wait2;
        Assert.That(lease.IsAcquired, Is.False);
        lease = await wait3;
        Assert.That(lease.IsAcquired, Is.False);

        // Throws after disposal
        Assert.Throws<ObjectDisposedException>(() => limiter.AttemptAcquire(1));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => limiter.AcquireAsync(1).AsTask());
    }

    [Test]
    public async Task DisposeAsyncReleasesQueuedAcquires()
    {
        var limiter = Create(1, 3, 2);
        var lease = limiter.AttemptAcquire(1);
        var wait1 = limiter.AcquireAsync(1);
        var wait2 = limiter.AcquireAsync(1);
        var wait3 = limiter.AcquireAsync(1);
        Assert.That(wait1.IsCompleted, Is.False);
        Assert.That(wait2.IsCompleted, Is.False);
        Assert.That(wait3.IsCompleted, Is.False);

        await limiter.DisposeAsync();

        lease = await wait1;
        Assert.That(lease.IsAcquired, Is.False);
        lease = await wait2;
        Assert.That(lease.IsAcquired, Is.False);
        lease = await wait3;
        Assert.That(lease.IsAcquired, Is.False);

        // Throws after disposal
        Assert.Throws<ObjectDisposedException>(() => limiter.AttemptAcquire(1));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => limiter.AcquireAsync(1).AsTask());
    }

    [Test]
    public async Task CanAcquireResourcesWithAcquireAsyncWithQueuedItemsIfNewestFirst()
    {
        using var limiter = Create(2, 2, 3);

        var lease = limiter.AttemptAcquire(1);
        Assert.That(lease.IsAcquired, Is.True);

        var wait = limiter.AcquireAsync(2);
        Assert.That(wait.IsCompleted, Is.False);

        Assert.That(limiter.GetStatistics()!.CurrentAvailablePermits, Is.EqualTo(1));

        // Adapted: no NewestFirst: a newcomer never passes a queued request, and the queue (2
        // permits, all taken by wait) has no room for it, so it is refused at once.
        lease = await limiter.AcquireAsync(1);
        Assert.That(lease.IsAcquired, Is.False);
        Assert.That(wait.IsCompleted, Is.False);

        Replenish(limiter, 1L);
        Replenish(limiter, 1L);

        Assert.That(wait.IsCompleted, Is.False);

        Replenish(limiter, 1L);
        lease = await wait;
        Assert.That(lease.IsAcquired, Is.True);
    }

    [Test]
    public async Task CannotAcquireResourcesWithAcquireAsyncWithQueuedItemsIfOldestFirst()
    {
        using var limiter = Create(3, 5, 2);

        var lease = limiter.AttemptAcquire(3);
        Assert.That(lease.IsAcquired, Is.True);

        var wait = limiter.AcquireAsync(2);
        var wait2 = limiter.AcquireAsync(2);
        Assert.That(wait.IsCompleted, Is.False);
        Assert.That(wait2.IsCompleted, Is.False);

        Replenish(limiter, 1L);

        Assert.That(wait.IsCompleted, Is.False);
        Assert.That(wait2.IsCompleted, Is.False);

        Replenish(limiter, 1L);

        lease = await wait;
        Assert.That(lease.IsAcquired, Is.True);

        Replenish(limiter, 1L);
        Replenish(limiter, 1L);

        lease = await wait2;
        Assert.That(lease.IsAcquired, Is.True);
    }

    [Test]
    public async Task CanAcquireResourcesWithAcquireWithQueuedItemsIfNewestFirst()
    {
        using var limiter = Create(2, 3, 2);

        var lease = limiter.AttemptAcquire(1);
        Assert.That(lease.IsAcquired, Is.True);

        var wait = limiter.AcquireAsync(2);
        Assert.That(wait.IsCompleted, Is.False);

        // Adapted: no NewestFirst: AttemptAcquire never passes a queued request.
        lease = limiter.AttemptAcquire(1);
        Assert.That(lease.IsAcquired, Is.False);
        Assert.That(wait.IsCompleted, Is.False);

        Replenish(limiter, 1L);
        Replenish(limiter, 1L);

        lease = await wait;
        Assert.That(lease.IsAcquired, Is.True);
    }

    [Test]
    public async Task CannotAcquireResourcesWithAcquireWithQueuedItemsIfOldestFirst()
    {
        using var limiter = Create(2, 3, 2);

        var lease = limiter.AttemptAcquire(1);
        Assert.That(lease.IsAcquired, Is.True);

        var wait = limiter.AcquireAsync(2);
        Assert.That(wait.IsCompleted, Is.False);

        lease = limiter.AttemptAcquire(1);
        Assert.That(lease.IsAcquired, Is.False);

        Replenish(limiter, 1L);
        Replenish(limiter, 1L);

        lease = await wait;
        Assert.That(lease.IsAcquired, Is.True);
    }

    [Test]
    public void NullIdleDurationWhenActive()
    {
        using var limiter = Create(1, 2, 1);
        limiter.AttemptAcquire(1);
        Assert.That(limiter.IdleDuration, Is.Null);
    }

    [Test]
    public void IdleDurationUpdatesWhenIdle()
    {
        using var limiter = Create(3, 2, 2);
        Assert.That(limiter.IdleDuration, Is.Not.Null);
        var previousDuration = limiter.IdleDuration;

        // Adapted: upstream awaits Task.Delay(15); here 15 ms pass on the fake clock.
        _time.Advance(TimeSpan.FromMilliseconds(15));
        Assert.That(previousDuration, Is.LessThan(limiter.IdleDuration));
    }

    [Test]
    public void IdleDurationUpdatesWhenChangingFromActive()
    {
        using var limiter = Create(1, 2, 2);
        limiter.AttemptAcquire(1);
        Replenish(limiter, 1L);
        Replenish(limiter, 1L);
        Assert.That(limiter.IdleDuration, Is.Not.Null);
    }

    [Test]
    public async Task CanFillQueueWithNewestFirstAfterCancelingQueuedRequestWithAnotherQueuedRequest()
    {
        using var limiter = Create(2, 2, 2);
        var lease = limiter.AttemptAcquire(2);
        Assert.That(lease.IsAcquired, Is.True);

        using var cts = new CancellationTokenSource();
        var wait = limiter.AcquireAsync(1, cts.Token);

        // Add another item to queue
        var wait2 = limiter.AcquireAsync(1);
        Assert.That(wait.IsCompleted, Is.False);

        cts.Cancel();
        var ex = await Assert.ThrowsAsync<TaskCanceledException>(() => wait.AsTask());
        Assert.That(ex!.CancellationToken, Is.EqualTo(cts.Token));

        lease.Dispose();
        Replenish(limiter, 1L);

        // Adapted: no NewestFirst: wait3 does not fit beside wait2 in the queue, so it is refused
        // at once and wait2, the oldest, stays queued and is served.
        var wait3 = limiter.AcquireAsync(2);
        Assert.That((await wait3).IsAcquired, Is.False);
        Assert.That(wait2.IsCompleted, Is.False);

        Replenish(limiter, 1L);
        lease = await wait2;
        Assert.That(lease.IsAcquired, Is.True);
    }

    [Test]
    public async Task CanDisposeAfterCancelingQueuedRequest()
    {
        var limiter = Create(1, 1, 2);
        var lease = limiter.AttemptAcquire(1);
        Assert.That(lease.IsAcquired, Is.True);

        using var cts = new CancellationTokenSource();
        var wait = limiter.AcquireAsync(1, cts.Token);

        cts.Cancel();
        var ex = await Assert.ThrowsAsync<TaskCanceledException>(() => wait.AsTask());
        Assert.That(ex!.CancellationToken, Is.EqualTo(cts.Token));

        // Make sure dispose doesn't have any side-effects when dealing with a canceled queued item
        limiter.Dispose();
    }

    [Test]
    public void GetStatisticsReturnsNewInstances()
    {
        using var limiter = Create(1, 1, 2);

        var stats = limiter.GetStatistics()!;
        Assert.That(stats.CurrentAvailablePermits, Is.EqualTo(1));

        var lease = limiter.AttemptAcquire(1);

        var stats2 = limiter.GetStatistics()!;
        Assert.That(stats2, Is.Not.SameAs(stats));
        Assert.That(stats.CurrentAvailablePermits, Is.EqualTo(1));
        Assert.That(stats2.CurrentAvailablePermits, Is.Zero);
    }

    [Test]
    public async Task GetStatisticsHasCorrectValues()
    {
        using var limiter = Create(100, 50, 2);

        var stats = limiter.GetStatistics()!;
        Assert.That(stats.CurrentAvailablePermits, Is.EqualTo(100));
        Assert.That(stats.CurrentQueuedCount, Is.Zero);
        Assert.That(stats.TotalFailedLeases, Is.Zero);
        Assert.That(stats.TotalSuccessfulLeases, Is.Zero);

        var lease1 = limiter.AttemptAcquire(60);
        stats = limiter.GetStatistics()!;
        Assert.That(stats.CurrentAvailablePermits, Is.EqualTo(40));
        Assert.That(stats.CurrentQueuedCount, Is.Zero);
        Assert.That(stats.TotalFailedLeases, Is.Zero);
        Assert.That(stats.TotalSuccessfulLeases, Is.EqualTo(1));

        var lease2Task = limiter.AcquireAsync(50);
        stats = limiter.GetStatistics()!;
        Assert.That(stats.CurrentAvailablePermits, Is.EqualTo(40));
        Assert.That(stats.CurrentQueuedCount, Is.EqualTo(50));
        Assert.That(stats.TotalFailedLeases, Is.Zero);
        Assert.That(stats.TotalSuccessfulLeases, Is.EqualTo(1));

        Replenish(limiter, 1);

        var lease3 = await limiter.AcquireAsync(1);
        Assert.That(lease3.IsAcquired, Is.False);
        stats = limiter.GetStatistics()!;
        Assert.That(stats.CurrentAvailablePermits, Is.EqualTo(40));
        Assert.That(stats.CurrentQueuedCount, Is.EqualTo(50));
        Assert.That(stats.TotalFailedLeases, Is.EqualTo(1));
        Assert.That(stats.TotalSuccessfulLeases, Is.EqualTo(1));

        var lease4 = limiter.AttemptAcquire(100);
        Assert.That(lease4.IsAcquired, Is.False);
        stats = limiter.GetStatistics()!;
        Assert.That(stats.CurrentAvailablePermits, Is.EqualTo(40));
        Assert.That(stats.CurrentQueuedCount, Is.EqualTo(50));
        Assert.That(stats.TotalFailedLeases, Is.EqualTo(2));
        Assert.That(stats.TotalSuccessfulLeases, Is.EqualTo(1));

        Replenish(limiter, 1);
        await lease2Task;

        stats = limiter.GetStatistics()!;
        Assert.That(stats.CurrentAvailablePermits, Is.EqualTo(50));
        Assert.That(stats.CurrentQueuedCount, Is.Zero);
        Assert.That(stats.TotalFailedLeases, Is.EqualTo(2));
        Assert.That(stats.TotalSuccessfulLeases, Is.EqualTo(2));
    }

    [Test]
    public async Task GetStatisticsWithZeroPermitCount()
    {
        using var limiter = Create(100, 50, 3);
        var lease = limiter.AttemptAcquire(0);
        Assert.That(lease.IsAcquired, Is.True);
        Assert.That(limiter.GetStatistics()!.TotalSuccessfulLeases, Is.EqualTo(1));
        Assert.That(limiter.GetStatistics()!.CurrentAvailablePermits, Is.EqualTo(100));

        lease = await limiter.AcquireAsync(0);
        Assert.That(lease.IsAcquired, Is.True);
        Assert.That(limiter.GetStatistics()!.TotalSuccessfulLeases, Is.EqualTo(2));
        Assert.That(limiter.GetStatistics()!.CurrentAvailablePermits, Is.EqualTo(100));

        lease = limiter.AttemptAcquire(100);
        Assert.That(lease.IsAcquired, Is.True);
        Assert.That(limiter.GetStatistics()!.TotalSuccessfulLeases, Is.EqualTo(3));
        Assert.That(limiter.GetStatistics()!.CurrentAvailablePermits, Is.Zero);

        var lease2 = limiter.AttemptAcquire(0);
        Assert.That(lease2.IsAcquired, Is.False);
        Assert.That(limiter.GetStatistics()!.TotalSuccessfulLeases, Is.EqualTo(3));
        Assert.That(limiter.GetStatistics()!.TotalFailedLeases, Is.EqualTo(1));
        Assert.That(limiter.GetStatistics()!.CurrentAvailablePermits, Is.Zero);
    }

    [Test]
    public void GetStatisticsThrowsAfterDispose()
    {
        var limiter = Create(100, 50, 3);
        limiter.Dispose();
        Assert.Throws<ObjectDisposedException>(() => limiter.GetStatistics());
    }
}
