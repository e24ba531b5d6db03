using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class TaskGroupTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Leaving_the_scope_waits_for_every_task()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var group = new TaskGroup();
        Task<int> started = group.Start(async _ => { await release.Task; return 1; });
        var added = Task.Run(async () => await release.Task);
        group.Add(added);
        Assert.That(group.Count, Is.EqualTo(2));

        ValueTask exit = group.DisposeAsync();
        Assert.That(exit.IsCompleted, Is.False);

        release.SetResult();
        await exit.AsTask().WaitAsync(Bound);
        Assert.That(started.Result, Is.EqualTo(1));
        Assert.That(added.IsCompletedSuccessfully, Is.True);
        Assert.That(group.Count, Is.Zero);
    }

    [Test]
    public async Task A_failing_task_does_not_cancel_its_siblings_and_the_failure_is_thrown_on_exit()
    {
        var group = new TaskGroup();
        var siblingRelease = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool siblingSawCancellation = true;
        group.Start(async ct =>
        {
            await siblingRelease.Task;
            siblingSawCancellation = ct.IsCancellationRequested;
        });
        Task<int> failing = group.Start<int>(async _ => { await Task.Yield(); throw new FormatException("boom"); });
        await Assert.ThrowsAsync<FormatException>(async () => await failing.WaitAsync(Bound));

        Assert.That(group.Token.IsCancellationRequested, Is.False);
        siblingRelease.SetResult();

        var ex = await Assert.ThrowsAsync<AggregateException>(async () => await group.DisposeAsync().AsTask().WaitAsync(Bound));
        Assert.That(ex!.InnerExceptions.Single().Message, Is.EqualTo("boom"));
        Assert.That(siblingSawCancellation, Is.False);
        Assert.That(group.Faults.Single().Message, Is.EqualTo("boom"));
    }

    [Test]
    public async Task Tasks_added_while_leaving_are_waited_for_too()
    {
        var group = new TaskGroup();
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var second = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondAdded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool secondRan = false;
        group.Start(async _ =>
        {
            await first.Task;
            group.Start(async _ => { await second.Task; secondRan = true; });
            secondAdded.SetResult();
        });

        ValueTask exit = group.DisposeAsync();
        group.Add(Task.Run(async () => await first.Task)); // added from outside while leaving
        first.SetResult();
        await secondAdded.Task.WaitAsync(Bound);
        Assert.That(exit.IsCompleted, Is.False);

        second.SetResult();
        await exit.AsTask().WaitAsync(Bound);
        Assert.That(secondRan, Is.True);
    }

    [Test]
    public async Task Starting_or_adding_after_the_scope_ended_throws()
    {
        var group = new TaskGroup();
        await group.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => group.Start(_ => Task.CompletedTask));
        Assert.Throws<ObjectDisposedException>(() => group.Start(_ => Task.FromResult(1)));
        Assert.Throws<ObjectDisposedException>(() => group.Add(Task.CompletedTask));
    }

    [Test]
    public async Task After_the_exit_timeout_the_token_is_cancelled_and_the_exit_still_waits_for_cleanup()
    {
        var time = new FakeTimeProvider();
        var group = new TaskGroup(new TaskGroupOptions { ExitTimeout = TimeSpan.FromSeconds(5), TimeProvider = time });
        var cleanupRelease = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool cleanedUp = false;
        group.Start(async ct =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            finally
            {
                cancelled.SetResult();
                await cleanupRelease.Task;
                cleanedUp = true;
            }
        });

        ValueTask exit = group.DisposeAsync();
        time.Advance(TimeSpan.FromSeconds(4));
        Assert.That(group.Token.IsCancellationRequested, Is.False);
        time.Advance(TimeSpan.FromSeconds(1));
        await cancelled.Task.WaitAsync(Bound);
        Assert.That(group.Token.IsCancellationRequested, Is.True);
        Assert.That(exit.IsCompleted, Is.False, "the exit waits for the cleanup");

        cleanupRelease.SetResult();
        await exit.AsTask().WaitAsync(Bound); // a cancelled task is not a failure: no exception
        Assert.That(cleanedUp, Is.True);
    }

    [Test]
    public async Task Fail_fast_cancels_the_siblings_on_the_first_failure()
    {
        var group = new TaskGroup(new TaskGroupOptions { FailFast = true });
        Task<int> sibling = group.Start(async ct => { await Task.Delay(Timeout.Infinite, ct); return 0; });
        group.Start(_ => Task.FromException(new FormatException("first")));

        var ex = await Assert.ThrowsAsync<AggregateException>(async () => await group.DisposeAsync().AsTask().WaitAsync(Bound));
        Assert.That(ex!.InnerExceptions.Single().Message, Is.EqualTo("first"));
        Assert.That(sibling.IsCanceled, Is.True);
    }

    [Test]
    public async Task Work_that_throws_before_returning_a_task_is_a_failed_task()
    {
        var group = new TaskGroup();
        Task<int> task = group.Start<int>(_ => throw new FormatException("sync"));
        Task<int> nullTask = group.Start<int>(_ => null!);
        Assert.That(task.IsFaulted, Is.True);
        Assert.That(nullTask.IsFaulted, Is.True);
        var ex = await Assert.ThrowsAsync<AggregateException>(async () => await group.DisposeAsync());
        Assert.That(ex!.InnerExceptions.Select(e => e.GetType()), Is.EqualTo(new[] { typeof(FormatException), typeof(InvalidOperationException) }));
    }

    [Test]
    public async Task Cancel_cancels_the_groups_token_and_cancelled_tasks_are_not_failures()
    {
        var group = new TaskGroup();
        Task<int> task = group.Start(async ct => { await Task.Delay(Timeout.Infinite, ct); return 0; });
        group.Cancel();
        await group.DisposeAsync().AsTask().WaitAsync(Bound);
        Assert.That(task.IsCanceled, Is.True);
        Assert.That(group.Faults, Is.Empty);
    }

    [Test]
    public async Task A_cancellation_the_group_did_not_cause_is_a_failure_whether_thrown_before_or_after_the_first_await()
    {
        var group = new TaskGroup();
        var afterAwait = new TaskCanceledException("timeout after await", new TimeoutException());
        var afterAwaitWithResult = new OperationCanceledException("foreign token after await", new CancellationToken(canceled: true));
        var beforeAwait = new TaskCanceledException("timeout before await", new TimeoutException());
        group.Start(async _ => { await Task.Yield(); throw afterAwait; });
        Task<int> withResult = group.Start<int>(async _ => { await Task.Yield(); throw afterAwaitWithResult; });
        group.Start(_ => throw beforeAwait);
        group.Add(Task.FromCanceled(new CancellationToken(canceled: true)));

        var ex = await Assert.ThrowsAsync<AggregateException>(async () => await group.DisposeAsync().AsTask().WaitAsync(Bound));
        Assert.That(ex!.InnerExceptions, Has.Count.EqualTo(4));
        Assert.That(ex.InnerExceptions, Does.Contain(afterAwait).And.Contain(afterAwaitWithResult).And.Contain(beforeAwait), "the work's own exceptions are kept");
        Assert.That(ex.InnerExceptions, Has.All.InstanceOf<OperationCanceledException>());
        Assert.That(group.Faults, Is.EquivalentTo(ex.InnerExceptions));
        Assert.That(withResult.IsCanceled, Is.True, "the caller's task is the work's own task");
    }

    [Test]
    public async Task A_foreign_cancellation_after_the_first_await_cancels_the_siblings_in_fail_fast_mode()
    {
        var group = new TaskGroup(new TaskGroupOptions { FailFast = true });
        Task<int> sibling = group.Start(async ct => { await Task.Delay(Timeout.Infinite, ct); return 0; });
        group.Start(async _ => { await Task.Yield(); throw new TaskCanceledException("timeout"); });
        var ex = await Assert.ThrowsAsync<AggregateException>(async () => await group.DisposeAsync().AsTask().WaitAsync(Bound));
        Assert.That(ex!.InnerExceptions.Single().Message, Is.EqualTo("timeout"));
        Assert.That(sibling.IsCanceled, Is.True);
    }

    [Test]
    public async Task The_groups_own_cancellation_is_not_a_failure_whether_thrown_before_or_after_the_first_await()
    {
        var group = new TaskGroup();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        group.Start(async ct => { await release.Task; ct.ThrowIfCancellationRequested(); });
        group.Start(async ct =>
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct);
            await Task.Delay(Timeout.Infinite, linked.Token); // ends with the linked token, which the group's cancelled
        });
        group.Cancel();
        group.Start(ct => { ct.ThrowIfCancellationRequested(); return Task.CompletedTask; });
        group.Start(_ => throw new OperationCanceledException("thrown while the group is cancelled"));
        release.SetResult();
        await group.DisposeAsync().AsTask().WaitAsync(Bound);
        Assert.That(group.Faults, Is.Empty);
    }

    [Test]
    public async Task Failures_are_observed_so_no_unobserved_task_exception_is_raised()
    {
        int unobserved = 0;
        void Handler(object? sender, UnobservedTaskExceptionEventArgs e)
        {
            if (e.Exception.InnerExceptions.Any(x => x.Message == "observed-by-group"))
            {
                Interlocked.Increment(ref unobserved);
            }
        }

        TaskScheduler.UnobservedTaskException += Handler;
        try
        {
            await RunAndForget();
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            Assert.That(unobserved, Is.Zero);
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= Handler;
        }

        static async Task RunAndForget()
        {
            var group = new TaskGroup();
            for (int i = 0; i < 10; i++)
            {
                group.Start(async _ => { await Task.Yield(); throw new FormatException("observed-by-group"); });
            }

            try
            {
                await group.DisposeAsync();
            }
            catch (AggregateException)
            {
                // expected: the group reports the failures here
            }
        }
    }

    [Test]
    public async Task Leaving_twice_waits_for_the_same_exit_and_reports_the_same_failures()
    {
        var group = new TaskGroup();
        group.Start(_ => Task.FromException(new FormatException()));
        await Assert.ThrowsAsync<AggregateException>(async () => await group.DisposeAsync());
        await Assert.ThrowsAsync<AggregateException>(async () => await group.DisposeAsync());
    }

    [Test]
    public void Arguments_are_checked_and_named()
    {
        var group = new TaskGroup();
        Assert.That(Assert.Throws<ArgumentNullException>(() => group.Start(null!))!.ParamName, Is.EqualTo("work"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => group.Add(null!))!.ParamName, Is.EqualTo("task"));
        Assert.That(
            Assert.Throws<ArgumentOutOfRangeException>(() => _ = new TaskGroup(new TaskGroupOptions { ExitTimeout = TimeSpan.FromSeconds(-1) }))!.ParamName,
            Is.EqualTo("options.ExitTimeout"));
    }

    [Test]
    public async Task Many_tasks_from_many_threads_are_all_waited_for()
    {
        var group = new TaskGroup();
        int done = 0;
        Parallel.For(0, 4, _ =>
        {
            for (int i = 0; i < 2_000; i++)
            {
                group.Start(async _ => { await Task.Yield(); Interlocked.Increment(ref done); });
            }
        });
        await group.DisposeAsync().AsTask().WaitAsync(Bound);
        Assert.That(done, Is.EqualTo(8_000));
    }

    [Test]
    public async Task An_exit_racing_with_tasks_started_from_another_thread_waits_for_every_task_it_accepted()
    {
        for (int round = 0; round < 200; round++)
        {
            var group = new TaskGroup();
            int accepted = 0;
            int done = 0;
            group.Start(async _ => { await Task.Yield(); Interlocked.Increment(ref done); });
            accepted++;
            Task adder = Task.Run(() =>
            {
                for (int i = 0; i < 500; i++)
                {
                    try
                    {
                        group.Start(async _ => { await Task.Yield(); Interlocked.Increment(ref done); });
                    }
                    catch (ObjectDisposedException)
                    {
                        return;
                    }

                    Interlocked.Increment(ref accepted);
                }
            });

            await group.DisposeAsync().AsTask().WaitAsync(Bound);
            int doneAtExit = Volatile.Read(ref done);
            await adder.WaitAsync(Bound);
            Assert.That(doneAtExit, Is.EqualTo(Volatile.Read(ref accepted)), $"round {round}: the exit finished before a task it accepted");
            Assert.That(group.Count, Is.Zero);
        }
    }
}
