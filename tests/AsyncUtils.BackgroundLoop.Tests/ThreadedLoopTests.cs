using System.Collections.Concurrent;

namespace AsyncUtils.Tests;

public sealed class ThreadedLoopTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task A_function_runs_on_the_named_loop_thread_and_returns_its_result()
    {
        await using var loop = new ThreadedLoop(new ThreadedLoopOptions { ThreadName = "worker-loop" });
        (int id, string? name, bool onLoop) = await loop.Schedule(_ => (Environment.CurrentManagedThreadId, Thread.CurrentThread.Name, loop.IsLoopThread)).WaitAsync(Bound);

        using (Assert.EnterMultipleScope())
        {
            Assert.That(id, Is.EqualTo(loop.ManagedThreadId));
            Assert.That(id, Is.Not.EqualTo(Environment.CurrentManagedThreadId));
            Assert.That(name, Is.EqualTo("worker-loop"));
            Assert.That(loop.Name, Is.EqualTo("worker-loop"));
            Assert.That(onLoop, Is.True);
            Assert.That(loop.IsLoopThread, Is.False);
        }
    }

    [Test]
    public async Task Every_continuation_of_async_work_stays_on_the_loop_thread()
    {
        await using var loop = new ThreadedLoop();
        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<List<int>> work = loop.Schedule(async ct =>
        {
            var ids = new List<int> { Environment.CurrentManagedThreadId };
            await Task.Yield();
            ids.Add(Environment.CurrentManagedThreadId);
            await Task.Delay(1, ct); // completes on a timer thread; the continuation must come back
            ids.Add(Environment.CurrentManagedThreadId);
            await released.Task; // completed from the test's thread
            ids.Add(Environment.CurrentManagedThreadId);
            await Task.Run(() => { }, ct);
            ids.Add(Environment.CurrentManagedThreadId);
            return ids;
        });
        released.SetResult();

        List<int> seen = await work.WaitAsync(Bound);
        Assert.That(seen, Has.Count.EqualTo(5).And.All.EqualTo(loop.ManagedThreadId));
    }

    [Test]
    public async Task The_callers_continuation_does_not_run_on_the_loop_thread()
    {
        await using var loop = new ThreadedLoop();
        await loop.Schedule(_ => { }).WaitAsync(Bound);
        Assert.That(Environment.CurrentManagedThreadId, Is.Not.EqualTo(loop.ManagedThreadId));
    }

    [Test]
    public async Task Every_overload_runs_its_function_and_passes_a_token()
    {
        await using var loop = new ThreadedLoop();
        var tokens = new ConcurrentBag<bool>();
        int ran = 0;

        await loop.Schedule(ct => { tokens.Add(ct.CanBeCanceled); Interlocked.Increment(ref ran); }).WaitAsync(Bound);
        Assert.That(await loop.Schedule(ct => { tokens.Add(ct.CanBeCanceled); return 1; }).WaitAsync(Bound), Is.EqualTo(1));
        await loop.Schedule(async ct => { tokens.Add(ct.CanBeCanceled); await Task.Yield(); Interlocked.Increment(ref ran); }).WaitAsync(Bound);
        Assert.That(await loop.Schedule(async ct => { tokens.Add(ct.CanBeCanceled); await Task.Yield(); return 2; }).WaitAsync(Bound), Is.EqualTo(2));
        await loop.RunAsync(ct => { tokens.Add(ct.CanBeCanceled); Interlocked.Increment(ref ran); }).WaitAsync(Bound);
        Assert.That(await loop.RunAsync(ct => { tokens.Add(ct.CanBeCanceled); return 3; }).WaitAsync(Bound), Is.EqualTo(3));
        await loop.RunAsync(async ct => { tokens.Add(ct.CanBeCanceled); await Task.Yield(); Interlocked.Increment(ref ran); }).WaitAsync(Bound);
        Assert.That(await loop.RunAsync(async ct => { tokens.Add(ct.CanBeCanceled); await Task.Yield(); return 4; }).WaitAsync(Bound), Is.EqualTo(4));

        using var cts = new CancellationTokenSource();
        await loop.Schedule(ct => { tokens.Add(ct.CanBeCanceled); Interlocked.Increment(ref ran); }, cts.Token).WaitAsync(Bound);
        Assert.That(await loop.Schedule(ct => { tokens.Add(ct.CanBeCanceled); return 5; }, cts.Token).WaitAsync(Bound), Is.EqualTo(5));
        await loop.Schedule(async ct => { tokens.Add(ct.CanBeCanceled); await Task.Yield(); Interlocked.Increment(ref ran); }, cts.Token).WaitAsync(Bound);
        Assert.That(await loop.Schedule(async ct => { tokens.Add(ct.CanBeCanceled); await Task.Yield(); return 6; }, cts.Token).WaitAsync(Bound), Is.EqualTo(6));
        await loop.RunAsync(ct => { tokens.Add(ct.CanBeCanceled); Interlocked.Increment(ref ran); }, cts.Token).WaitAsync(Bound);
        Assert.That(await loop.RunAsync(ct => { tokens.Add(ct.CanBeCanceled); return 7; }, cts.Token).WaitAsync(Bound), Is.EqualTo(7));
        await loop.RunAsync(async ct => { tokens.Add(ct.CanBeCanceled); await Task.Yield(); Interlocked.Increment(ref ran); }, cts.Token).WaitAsync(Bound);
        Assert.That(await loop.RunAsync(async ct => { tokens.Add(ct.CanBeCanceled); await Task.Yield(); return 8; }, cts.Token).WaitAsync(Bound), Is.EqualTo(8));

        Assert.That(ran, Is.EqualTo(8));
        Assert.That(tokens, Has.Count.EqualTo(16).And.All.True, "every function gets a token that CancelAll can cancel");
    }

    [Test]
    public async Task Work_starts_in_the_order_it_was_scheduled()
    {
        await using var loop = new ThreadedLoop();
        var order = new List<int>();
        var tasks = Enumerable.Range(0, 1000).Select(i => loop.Schedule(_ => order.Add(i))).ToArray();
        await Task.WhenAll(tasks).WaitAsync(Bound);
        Assert.That(order, Is.EqualTo(Enumerable.Range(0, 1000)));
    }

    [Test]
    public async Task Exceptions_of_scheduled_work_go_to_its_task_and_the_loop_goes_on()
    {
        await using var loop = new ThreadedLoop();
        await Assert.ThrowsAsync<FormatException>(async () => await loop.Schedule(_ => throw new FormatException()).WaitAsync(Bound));
        await Assert.ThrowsAsync<FormatException>(async () => await loop.Schedule(async _ => { await Task.Yield(); throw new FormatException(); }).WaitAsync(Bound));
        Assert.That(await loop.Schedule(_ => 42).WaitAsync(Bound), Is.EqualTo(42));
    }

    [Test]
    public async Task An_async_function_returning_a_null_task_fails_its_task_clearly()
    {
        await using var loop = new ThreadedLoop();
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () => await loop.Schedule(_ => (Task)null!).WaitAsync(Bound));
        Assert.That(ex!.Message, Does.Contain("null task"));
    }

    [Test]
    public async Task CancelAll_cancels_the_tokens_of_outstanding_work_only()
    {
        await using var loop = new ThreadedLoop();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task running = loop.Schedule(async ct =>
        {
            started.SetResult();
            await Task.Delay(Timeout.Infinite, ct);
        });
        await started.Task.WaitAsync(Bound);

        loop.CancelAll();

        Assert.That(async () => await running.WaitAsync(Bound), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(running.IsCanceled, Is.True);
        Assert.That(await loop.Schedule(ct => ct.IsCancellationRequested).WaitAsync(Bound), Is.False, "later work gets a fresh token");
    }

    [Test]
    public async Task Work_whose_token_is_cancelled_before_it_starts_does_not_start()
    {
        await using var loop = new ThreadedLoop();
        var gate = new ManualResetEventSlim();
        Task blocker = loop.Schedule(ct => gate.Wait(Bound, ct));
        using var cts = new CancellationTokenSource();
        bool ran = false;
        Task queued = loop.Schedule(_ => { ran = true; }, cts.Token);

        cts.Cancel();
        gate.Set();

        Assert.That(async () => await queued.WaitAsync(Bound), Throws.InstanceOf<OperationCanceledException>());
        await blocker.WaitAsync(Bound);
        Assert.That(ran, Is.False);
        Assert.That(queued.IsCanceled, Is.True);
    }

    [Test]
    public async Task RunAsync_stops_waiting_when_the_caller_gives_up_and_cancels_the_works_token()
    {
        await using var loop = new ThreadedLoop();
        var tokenSeen = new TaskCompletionSource<CancellationToken>(TaskCreationOptions.RunContinuationsAsynchronously);
        var finish = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cts = new CancellationTokenSource();

        // The work ignores its token: the caller must still get control back.
        Task run = loop.RunAsync(async ct => { tokenSeen.SetResult(ct); await finish.Task; }, cts.Token);
        CancellationToken workToken = await tokenSeen.Task.WaitAsync(Bound);
        cts.Cancel();

        Assert.That(async () => await run.WaitAsync(Bound), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(workToken.IsCancellationRequested, Is.True);
        Assert.That(loop.OutstandingCount, Is.EqualTo(1), "the work itself is still running");
        finish.SetResult();
        Assert.That(await loop.WaitAllAsync(Bound, CancellationToken.None), Is.True);
    }

    [Test]
    public async Task Work_that_throws_for_its_cancelled_token_ends_cancelled()
    {
        await using var loop = new ThreadedLoop();
        using var cts = new CancellationTokenSource();
        Task<int> task = loop.Schedule(ct => { cts.Cancel(); ct.ThrowIfCancellationRequested(); return 1; }, cts.Token);
        Assert.That(async () => await task.WaitAsync(Bound), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(task.IsCanceled, Is.True);
    }

    [Test]
    public async Task A_posted_fault_goes_to_the_event_and_the_loop_goes_on()
    {
        await using var loop = new ThreadedLoop();
        var faults = new ConcurrentQueue<(Exception Fault, bool OnLoop)>();
        loop.UnhandledException += (_, e) => faults.Enqueue((e.Exception, loop.IsLoopThread));

        loop.Post(_ => throw new FormatException("sync"));
        loop.Post(async _ => { await Task.Yield(); throw new FormatException("async"); });
        Assert.That(loop.WaitAll(Bound), Is.True);

        Assert.That(await loop.Schedule(_ => 1).WaitAsync(Bound), Is.EqualTo(1));
        Assert.That(faults.Select(f => f.Fault.Message), Is.EquivalentTo(new[] { "sync", "async" }));
        Assert.That(faults.Select(f => f.OnLoop), Is.All.True);
    }

    [Test]
    public async Task An_async_void_fault_goes_to_the_event_and_the_loop_goes_on()
    {
        await using var loop = new ThreadedLoop();
        var fault = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        loop.UnhandledException += (_, e) => fault.TrySetResult(e.Exception);

        await loop.Schedule(_ => AsyncVoidThatThrows()).WaitAsync(Bound);

        Exception seen = await fault.Task.WaitAsync(Bound);
        Assert.That(seen, Is.InstanceOf<FormatException>().With.Message.EqualTo("async void"));
        Assert.That(await loop.Schedule(_ => Environment.CurrentManagedThreadId).WaitAsync(Bound), Is.EqualTo(loop.ManagedThreadId), "the loop survived");
    }

    [Test]
    public void Faults_with_no_handler_are_thrown_by_dispose_after_the_loop_stopped()
    {
        var loop = new ThreadedLoop();
        loop.Post(_ => throw new FormatException("posted"));
        loop.Schedule(_ => AsyncVoidThatThrows()).Wait(Bound);
        Assert.That(loop.WaitAll(Bound), Is.True);

        var ex = Assert.Throws<AggregateException>(loop.Dispose);
        Assert.That(ex!.InnerExceptions.Select(e => e.Message), Is.EquivalentTo(new[] { "posted", "async void" }));
        Assert.DoesNotThrow(loop.Dispose, "later disposals do not throw again");
    }

    [Test]
    public async Task A_handler_that_throws_does_not_break_the_loop_and_its_exception_surfaces_at_disposal()
    {
        var loop = new ThreadedLoop();
        loop.UnhandledException += (_, _) => throw new InvalidCastException("handler");
        loop.Post(_ => throw new FormatException());
        Assert.That(await loop.Schedule(_ => 7).WaitAsync(Bound), Is.EqualTo(7));

        var ex = await Assert.ThrowsAsync<AggregateException>(async () => await loop.DisposeAsync());
        Assert.That(ex!.InnerExceptions.Single(), Is.InstanceOf<InvalidCastException>());
    }

    [Test]
    public async Task WaitAll_reports_whether_everything_finished()
    {
        await using var loop = new ThreadedLoop();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task pending = loop.Schedule(async _ => await release.Task);

        Assert.That(loop.WaitAll(TimeSpan.Zero), Is.False);
        Assert.That(await loop.WaitAllAsync(TimeSpan.FromMilliseconds(1), CancellationToken.None), Is.False);
        Assert.That(loop.OutstandingCount, Is.EqualTo(1));

        release.SetResult();
        Assert.That(loop.WaitAll(Bound), Is.True);
        Assert.That(pending.IsCompletedSuccessfully, Is.True, "WaitAll returns after the work's task completed");
        Assert.That(loop.OutstandingCount, Is.Zero);
        Assert.That(await loop.WaitAllAsync(TimeSpan.Zero, CancellationToken.None), Is.True);
    }

    [Test]
    public async Task WaitAllAsync_can_be_cancelled_without_touching_the_work()
    {
        await using var loop = new ThreadedLoop();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task pending = loop.Schedule(async ct => await release.Task);
        using var cts = new CancellationTokenSource();
        Task<bool> wait = loop.WaitAllAsync(Timeout.InfiniteTimeSpan, cts.Token);
        cts.Cancel();
        Assert.That(async () => await wait.WaitAsync(Bound), Throws.InstanceOf<OperationCanceledException>());
        release.SetResult();
        await pending.WaitAsync(Bound);
    }

    [Test]
    public async Task Disposal_waits_for_outstanding_work_which_may_schedule_more_from_the_loop()
    {
        var loop = new ThreadedLoop();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new ConcurrentQueue<string>();
        Task work = loop.Schedule(async ct =>
        {
            await release.Task;
            log.Enqueue("first done");
            _ = loop.Schedule(async _ => { await Task.Yield(); log.Enqueue("scheduled while draining"); }, ct);
        });

        ValueTask disposing = loop.DisposeAsync();
        Assert.That(() => loop.Schedule(_ => { }), Throws.InstanceOf<ObjectDisposedException>(), "other threads are refused while draining");
        Assert.That(disposing.IsCompleted, Is.False);

        release.SetResult();
        await disposing.AsTask().WaitAsync(Bound);

        Assert.That(log, Is.EqualTo(new[] { "first done", "scheduled while draining" }));
        Assert.That(work.IsCompletedSuccessfully, Is.True);
    }

    [Test]
    public async Task Disposal_cancels_work_that_outlives_the_timeout_and_lets_it_clean_up_on_the_loop()
    {
        var loop = new ThreadedLoop(new ThreadedLoopOptions { DisposeTimeout = TimeSpan.Zero });
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int cleanupThread = 0;
        Task work = loop.Schedule(async ct =>
        {
            try
            {
                started.SetResult();
                await Task.Delay(Timeout.Infinite, ct);
            }
            finally
            {
                cleanupThread = Environment.CurrentManagedThreadId;
            }
        });
        await started.Task.WaitAsync(Bound);

        await loop.DisposeAsync().AsTask().WaitAsync(Bound);

        Assert.That(work.IsCanceled, Is.True);
        Assert.That(cleanupThread, Is.EqualTo(loop.ManagedThreadId));
    }

    [Test]
    public async Task Work_that_ignores_cancellation_is_abandoned_after_the_grace_period_and_its_task_cancelled()
    {
        var loop = new ThreadedLoop(new ThreadedLoopOptions { DisposeTimeout = TimeSpan.Zero, CancellationGracePeriod = TimeSpan.Zero });
        var never = new TaskCompletionSource();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<int> work = loop.Schedule(async _ => { started.SetResult(); await never.Task; return 1; });
        await started.Task.WaitAsync(Bound);

        await loop.DisposeAsync().AsTask().WaitAsync(Bound);

        Assert.That(work.IsCanceled, Is.True);
        Assert.That(loop.OutstandingCount, Is.Zero);
        Assert.That(loop.WaitAll(TimeSpan.Zero), Is.True);
    }

    [Test]
    public async Task Disposal_stops_the_loop_thread()
    {
        var loop = new ThreadedLoop();
        Thread thread = await loop.Schedule(_ => Thread.CurrentThread).WaitAsync(Bound);
        loop.Dispose();
        Assert.That(thread.IsAlive, Is.False);
    }

    [Test]
    public void Everything_that_schedules_throws_ObjectDisposedException_after_disposal()
    {
        var loop = new ThreadedLoop();
        loop.Dispose();
        using (Assert.EnterMultipleScope())
        {
            Assert.Throws<ObjectDisposedException>(() => loop.Schedule(_ => { }));
            Assert.Throws<ObjectDisposedException>(() => loop.Schedule(_ => 1));
            Assert.Throws<ObjectDisposedException>(() => loop.Schedule(_ => Task.CompletedTask));
            Assert.Throws<ObjectDisposedException>(() => loop.Schedule(_ => Task.FromResult(1)));
            Assert.Throws<ObjectDisposedException>(() => loop.RunAsync(_ => 1, CancellationToken.None));
            Assert.Throws<ObjectDisposedException>(() => loop.Post(_ => { }));
            Assert.Throws<ObjectDisposedException>(() => loop.Post(_ => Task.CompletedTask));
        }

        Assert.DoesNotThrow(loop.Dispose);
    }

    [Test]
    public async Task Disposing_or_waiting_on_the_loop_thread_fails_clearly_instead_of_deadlocking()
    {
        await using var loop = new ThreadedLoop();
        Exception? dispose = await loop.Schedule(_ => Catch(loop.Dispose)).WaitAsync(Bound);
        Exception? disposeAsync = await loop.Schedule(_ => Catch(() => loop.DisposeAsync().AsTask().GetAwaiter().GetResult())).WaitAsync(Bound);
        Exception? waitAll = await loop.Schedule(_ => Catch(() => loop.WaitAll(TimeSpan.Zero))).WaitAsync(Bound);
        Exception? waitAllAsync = await loop.Schedule(_ => Catch(() => loop.WaitAllAsync(TimeSpan.Zero, CancellationToken.None))).WaitAsync(Bound);

        Assert.That(new[] { dispose, disposeAsync, waitAll, waitAllAsync }, Is.All.InstanceOf<InvalidOperationException>());
        Assert.That(dispose!.Message, Does.Contain("own thread"));
        Assert.That(await loop.Schedule(_ => 5).WaitAsync(Bound), Is.EqualTo(5), "the loop is still usable");
    }

    [Test]
    public async Task Work_on_the_loop_can_schedule_and_await_more_work()
    {
        await using var loop = new ThreadedLoop();
        int result = await loop.Schedule(async _ =>
        {
            int inner = await loop.RunAsync(_ => 20);
            int innerAsync = await loop.Schedule(async _ => { await Task.Yield(); return 22; });
            return inner + innerAsync;
        }).WaitAsync(Bound);
        Assert.That(result, Is.EqualTo(42));
    }

    [Test]
    public async Task Arguments_are_checked_and_named()
    {
        await using var loop = new ThreadedLoop();
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Assert.Throws<ArgumentNullException>(() => loop.Schedule((Action<CancellationToken>)null!))!.ParamName, Is.EqualTo("action"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => loop.Schedule((Func<CancellationToken, int>)null!))!.ParamName, Is.EqualTo("function"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => loop.Post((Action<CancellationToken>)null!))!.ParamName, Is.EqualTo("action"));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => loop.WaitAll(TimeSpan.FromSeconds(-2)))!.ParamName, Is.EqualTo("timeout"));
            Assert.That(
                Assert.Throws<ArgumentOutOfRangeException>(() => _ = new ThreadedLoop(new ThreadedLoopOptions { DisposeTimeout = TimeSpan.FromSeconds(-1) }))!.ParamName,
                Is.EqualTo("options.DisposeTimeout"));
            Assert.Throws<ArgumentNullException>(() => _ = new ThreadedLoopExceptionEventArgs(null!));
        }
    }

    [Test]
    public async Task Many_threads_scheduling_at_once_all_run_once_on_the_loop()
    {
        await using var loop = new ThreadedLoop();
        const int threads = 4;
        const int perThread = 5_000;
        int count = 0;
        var offLoop = 0;
        var tasks = new ConcurrentBag<Task>();
        Parallel.For(0, threads, _ =>
        {
            for (int i = 0; i < perThread; i++)
            {
                tasks.Add(loop.Schedule(_ =>
                {
                    count++; // not atomic on purpose: only one thread may run it
                    if (!loop.IsLoopThread)
                    {
                        Interlocked.Increment(ref offLoop);
                    }
                }));
            }
        });

        await Task.WhenAll(tasks).WaitAsync(Bound);
        Assert.That(count, Is.EqualTo(threads * perThread));
        Assert.That(offLoop, Is.Zero);
        Assert.That(loop.WaitAll(Bound), Is.True);
        Assert.That(loop.OutstandingCount, Is.Zero);
    }

    private static Exception? Catch(Action action)
    {
        try
        {
            action();
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }

    private static Exception? Catch(Func<object?> function) => Catch(() => { _ = function(); });

#pragma warning disable VSTHRD100, S3168 // async void on purpose: its fault must reach the loop's event.
    private static async void AsyncVoidThatThrows()
    {
        await Task.Yield();
        throw new FormatException("async void");
    }
#pragma warning restore VSTHRD100, S3168
}
