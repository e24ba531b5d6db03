using System.Collections.Concurrent;

namespace AsyncUtils.Tests;

/// <summary>
/// One rule for cancellation, sync or async, scheduled or posted: an OperationCanceledException
/// (or a cancelled task) is the work's own cancellation only while the work's token is
/// cancelled; any other is a fault. And fault reports always come from the loop thread.
/// </summary>
public sealed class ThreadedLoopCancellationFaultTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task A_posted_async_function_failing_with_a_cancellation_its_token_did_not_cause_is_reported()
    {
        await using var loop = new ThreadedLoop();
        var faults = new ConcurrentQueue<Exception>();
        loop.UnhandledException += (_, e) => faults.Enqueue(e.Exception);
        var timeout = new TaskCanceledException("timeout after await", new TimeoutException());

        loop.Post(async _ => { await Task.Yield(); throw timeout; });
        loop.Post(_ => throw new OperationCanceledException("sync, foreign"));
        Assert.That(loop.WaitAll(Bound), Is.True);

        Assert.That(faults, Has.Count.EqualTo(2));
        Assert.That(faults, Does.Contain(timeout), "the work's own exception is reported");
    }

    [Test]
    public void A_posted_async_foreign_cancellation_with_no_handler_is_thrown_by_disposal()
    {
        var loop = new ThreadedLoop();
        loop.Post(async _ => { await Task.Yield(); throw new TaskCanceledException("timeout"); });
        Assert.That(loop.WaitAll(Bound), Is.True);

        var ex = Assert.Throws<AggregateException>(loop.Dispose);
        Assert.That(ex!.InnerExceptions.Single(), Is.InstanceOf<TaskCanceledException>().With.Message.EqualTo("timeout"));
    }

    [Test]
    public async Task Posted_work_cancelled_by_its_own_token_is_not_a_fault()
    {
        var loop = new ThreadedLoop();
        var faults = new ConcurrentQueue<Exception>();
        loop.UnhandledException += (_, e) => faults.Enqueue(e.Exception);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(async ct => { started.SetResult(); await Task.Delay(Timeout.Infinite, ct); });
        await started.Task.WaitAsync(Bound);
        loop.CancelAll();
        Assert.That(loop.WaitAll(Bound), Is.True);
        Assert.That(faults, Is.Empty);
        Assert.DoesNotThrow(loop.Dispose);
    }

    [Test]
    public async Task Scheduled_work_failing_with_a_cancellation_its_token_did_not_cause_ends_faulted_sync_or_async()
    {
        await using var loop = new ThreadedLoop();
        Task sync = loop.Schedule(_ => throw new OperationCanceledException("sync"));
        Task<int> syncWithResult = loop.Schedule((Func<CancellationToken, int>)(_ => throw new OperationCanceledException("sync result")));
        Task async = loop.Schedule(async _ => { await Task.Yield(); throw new TaskCanceledException("async"); });
        Task<int> asyncWithResult = loop.Schedule((Func<CancellationToken, Task<int>>)(async _ => { await Task.Yield(); throw new TaskCanceledException("async result"); }));
        Task asyncBeforeAwait = loop.Schedule(_ => Task.FromCanceled(new CancellationToken(canceled: true)));

        foreach (Task task in new[] { sync, syncWithResult, async, asyncWithResult, asyncBeforeAwait })
        {
            try
            {
                await task.WaitAsync(Bound);
            }
            catch (OperationCanceledException)
            {
            }

            Assert.That(task.Status, Is.EqualTo(TaskStatus.Faulted));
            Assert.That(task.Exception!.InnerException, Is.InstanceOf<OperationCanceledException>());
        }

        Assert.That(async.Exception!.InnerException!.Message, Is.EqualTo("async"));
    }

    [Test]
    public async Task Scheduled_work_cancelled_by_its_own_token_ends_cancelled_sync_or_async()
    {
        await using var loop = new ThreadedLoop();
        using var cts = new CancellationTokenSource();
        Task sync = loop.Schedule(ct => { cts.Cancel(); ct.ThrowIfCancellationRequested(); }, cts.Token);
        await Assert.ThatAsync(() => sync.WaitAsync(Bound), Throws.InstanceOf<OperationCanceledException>());

        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<int> async = loop.Schedule(async ct =>
        {
            started.SetResult();
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct);
            await Task.Delay(Timeout.Infinite, linked.Token); // the exception carries the linked token
            return 0;
        });
        await started.Task.WaitAsync(Bound);
        loop.CancelAll();
        await Assert.ThatAsync(() => async.WaitAsync(Bound), Throws.InstanceOf<OperationCanceledException>());

        Assert.That(sync.Status, Is.EqualTo(TaskStatus.Canceled));
        Assert.That(async.Status, Is.EqualTo(TaskStatus.Canceled));
    }

    [Test]
    public async Task UnhandledException_is_raised_on_the_loop_thread_even_when_the_function_ended_off_the_loop()
    {
        await using var loop = new ThreadedLoop();
        var raisedOn = new ConcurrentQueue<(string Message, int Thread)>();
        loop.UnhandledException += (_, e) => raisedOn.Enqueue((e.Exception.Message, Environment.CurrentManagedThreadId));

        // Synchronous continuations: after ConfigureAwait(false) the function's last step runs on
        // the thread that sets the gate, the test's thread, and so does its task's completion.
        var gate = new TaskCompletionSource();
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.Post(async _ =>
        {
            Task wait = gate.Task;
            reached.SetResult();
            await wait.ConfigureAwait(false);
            throw new FormatException("off the loop");
        });
        loop.Post(async _ =>
        {
            await gate.Task.ConfigureAwait(false);
            throw new TaskCanceledException("foreign cancellation off the loop");
        });
        await reached.Task.WaitAsync(Bound);
        await loop.Schedule(_ => { }).WaitAsync(Bound); // the second function reached its await too
        gate.SetResult();
        Assert.That(loop.WaitAll(Bound), Is.True);

        Assert.That(raisedOn.Select(r => r.Thread), Is.All.EqualTo(loop.ManagedThreadId));
        Assert.That(raisedOn.Select(r => r.Message), Is.EquivalentTo(new[] { "off the loop", "foreign cancellation off the loop" }));
    }
}
