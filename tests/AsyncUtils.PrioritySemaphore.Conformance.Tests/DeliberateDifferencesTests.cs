// Not ported: where PrioritySemaphore differs from SemaphoreSlim on purpose, these tests state
// what it does instead. The package README ("How it differs") says why.

namespace AsyncUtils.Conformance.Tests;

public sealed class DeliberateDifferencesTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Blocking_and_async_waiters_share_one_queue_served_by_priority_then_arrival()
    {
        // SemaphoreSlim promises no order, and serves blocked threads and async waiters from
        // separate queues.
        var semaphore = new PrioritySemaphore(0);
        ValueTask first = semaphore.WaitAsync(1, CancellationToken.None);
        bool blockedGot = false;
        var blocked = new Thread(() => blockedGot = semaphore.Wait(1, Timeout.InfiniteTimeSpan, CancellationToken.None));
        blocked.Start();
        Assert.That(SpinWait.SpinUntil(() => semaphore.WaitingCount == 2, Bound), Is.True);
        ValueTask urgent = semaphore.WaitAsync(-1, CancellationToken.None);

        semaphore.Release();
        await urgent.AsTask().WaitAsync(Bound);
        Assert.That(first.IsCompleted || blockedGot, Is.False, "the lower number was served first");
        semaphore.Release();
        await first.AsTask().WaitAsync(Bound);
        Assert.That(blocked.Join(50), Is.False, "equal priorities in arrival order: the blocked thread came second");
        semaphore.Release();
        Assert.That(blocked.Join(Bound), Is.True);
        Assert.That(blockedGot, Is.True);
    }

    [Test]
    public void A_newcomer_never_takes_a_released_permit_ahead_of_a_queued_waiter()
    {
        // SemaphoreSlim lets a caller arriving right after a Release take the permit before the
        // waiter it was meant for has run.
        var semaphore = new PrioritySemaphore(0);
        ValueTask queued = semaphore.WaitAsync();
        semaphore.Release();
        Assert.That(semaphore.Wait(TimeSpan.Zero), Is.False, "the permit went to the queued waiter");
        Assert.That(semaphore.WaitAsync(TimeSpan.Zero).Result, Is.False);
        Assert.That(queued.IsCompletedSuccessfully, Is.True);
    }

    [Test]
    public async Task A_token_that_fires_after_the_grant_but_before_the_waiter_took_it_hands_the_permit_on()
    {
        // SemaphoreSlim: once the wait's task has completed with the permit, the token no longer
        // matters, and a caller that gave up meanwhile leaks the permit unless it checks.
        var semaphore = new PrioritySemaphore(0);
        using var cts = new CancellationTokenSource();
        ValueTask<bool> gaveUp = semaphore.WaitAsync(TimeSpan.FromMinutes(1), cts.Token);
        ValueTask next = semaphore.WaitAsync();
        semaphore.Release();
        cts.Cancel();
        await Assert.CatchAsync<OperationCanceledException>(async () => await gaveUp);
        await next.AsTask().WaitAsync(Bound);
        Assert.That(semaphore.CurrentCount, Is.Zero, "the permit went to the next waiter, exactly once");
    }

    [Test]
    public async Task An_int_before_the_token_is_a_priority_not_a_timeout_in_milliseconds()
    {
        // SemaphoreSlim.WaitAsync(1000, token) waits at most a second and returns a bool. Here the
        // int in first position is always a priority; a timeout is always a TimeSpan.
        var semaphore = new PrioritySemaphore(0);
        ValueTask background = semaphore.WaitAsync(1000, CancellationToken.None);
        ValueTask normal = semaphore.WaitAsync(0, CancellationToken.None);
        ValueTask<bool> timed = semaphore.WaitAsync(TimeSpan.FromMilliseconds(1));
        Assert.That(await timed.AsTask().WaitAsync(Bound), Is.False, "a TimeSpan is a timeout");
        semaphore.Release();
        await normal.AsTask().WaitAsync(Bound);
        Assert.That(background.IsCompleted, Is.False, "1000 was a priority: served after 0, and it never times out");
        semaphore.Release();
        await background.AsTask().WaitAsync(Bound);
    }
}
