namespace AsyncUtils.Tests;

/// <summary>Loop work that waits for its own loop's disposal, started on another thread: the documented bound.</summary>
public sealed class ThreadedLoopSelfDisposalTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Loop_work_awaiting_a_disposal_it_started_on_the_pool_is_abandoned_when_DisposeTimeout_is_finite()
    {
        var loop = new ThreadedLoop(new ThreadedLoopOptions { DisposeTimeout = TimeSpan.Zero, CancellationGracePeriod = TimeSpan.Zero });
        var disposalStarted = new TaskCompletionSource<Task>(TaskCreationOptions.RunContinuationsAsynchronously);
        bool resumed = false;
        Task work = loop.Schedule(async _ =>
        {
            Task disposal = Task.Run(async () => await loop.DisposeAsync(), CancellationToken.None);
            disposalStarted.SetResult(disposal);
            await disposal; // waits for the loop's disposal, which waits for this work
            resumed = true;
        });

        Task disposal = await disposalStarted.Task.WaitAsync(Bound);

        // Bounded: the disposal cancels the work after DisposeTimeout, abandons it after the grace
        // period, and ends; it does not wait for the work forever.
        await disposal.WaitAsync(Bound);
        await Assert.ThatAsync(() => work.WaitAsync(Bound), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(work.IsCanceled, Is.True, "the work is abandoned: its task ends cancelled");
        Assert.That(resumed, Is.False, "the loop is gone, so the work's continuation never runs");
        Assert.That(loop.OutstandingCount, Is.Zero);
    }
}
