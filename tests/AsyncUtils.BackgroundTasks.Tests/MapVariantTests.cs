namespace AsyncUtils.Tests;

/// <summary>The fail-fast and tasks-in-completion-order forms of Map.</summary>
public sealed class MapVariantTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task MapFailFast_stops_taking_items_cancels_the_running_calls_waits_for_them_and_throws_the_first_failure()
    {
        await using var executor = new CurrentContextExecutor(3);
        var failure = new FormatException("item 0");
        var fifthStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int pulled = 0;
        int running = 0;
        int cancelled = 0;
        int finishedAfterIteration = 0;
        bool iterationEnded = false;
        IEnumerable<int> Items()
        {
            for (int i = 0; i < 100; i++)
            {
                Interlocked.Increment(ref pulled);
                yield return i;
            }
        }

        var yielded = new List<long>();
        using var bound = new CancellationTokenSource(Bound); // a broken fail-fast ends in OperationCanceledException, not a hang
        FormatException? thrown = await Assert.ThrowsAsync<FormatException>(async () =>
        {
            await foreach (MapResult<int, int> r in executor.MapFailFast(Items(), async (x, ct) =>
            {
                if (x == 0)
                {
                    await fifthStarted.Task;
                    throw failure;
                }

                if (x == 5)
                {
                    fifthStarted.SetResult();
                }

                if (x < 5)
                {
                    return x; // items 1..4 succeed before the failure
                }

                Interlocked.Increment(ref running);
                try
                {
                    await Task.Delay(Timeout.Infinite, ct);
                    return x;
                }
                catch (OperationCanceledException)
                {
                    Interlocked.Increment(ref cancelled);
                    await Task.Yield(); // cleanup after the cancellation still runs before the throw
                    if (Volatile.Read(ref iterationEnded))
                    {
                        Interlocked.Increment(ref finishedAfterIteration);
                    }

                    throw;
                }
            }, bound.Token))
            {
                Assert.That(r.IsSuccess, Is.True);
                yielded.Add(r.Index);
            }
        });
        Volatile.Write(ref iterationEnded, true);

        Assert.That(thrown, Is.SameAs(failure), "the first failure itself, unwrapped");
        Assert.That(yielded, Is.SubsetOf(new long[] { 1, 2, 3, 4 }), "only successes from before the failure");
        Assert.That(pulled, Is.LessThanOrEqualTo(5 + 3), "no item is taken after the failure");
        Assert.That(running, Is.InRange(1, 2));
        Assert.That(cancelled, Is.EqualTo(running), "every running call had its token cancelled");
        Assert.That(finishedAfterIteration, Is.Zero, "the running calls finished before the failure was thrown");
        Assert.That(executor.OutstandingCount, Is.Zero);
    }

    [Test]
    public async Task MapFailFast_throws_only_the_first_failure_and_drops_the_later_ones()
    {
        await using var executor = new CurrentContextExecutor(2);
        var firstFailed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = new InvalidOperationException("first");
        InvalidOperationException? thrown = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await foreach (MapResult<int, int> _ in executor.MapFailFast<int, int>(new[] { 0, 1 }, async (x, ct) =>
            {
                if (x == 0)
                {
                    await Task.Yield();
                    firstFailed.SetResult();
                    throw first;
                }

                await firstFailed.Task;

                // Fail only once the first failure has stopped the Map (it cancels the token), so
                // which failure is first does not depend on thread timing.
                try
                {
                    await Task.Delay(Timeout.Infinite, ct);
                }
                catch (OperationCanceledException)
                {
                }

                throw new InvalidOperationException("second");
            }))
            {
            }
        });

        Assert.That(thrown, Is.SameAs(first));
        Assert.That(executor.OutstandingCount, Is.Zero);
    }

    [Test]
    public async Task MapFailFast_counts_a_cancellation_its_token_did_not_cause_as_the_failure()
    {
        await using var executor = new CurrentContextExecutor(2);
        var foreign = new OperationCanceledException("an HttpClient timeout");
        OperationCanceledException? thrown = await Assert.CatchAsync<OperationCanceledException>(async () =>
        {
            await foreach (MapResult<int, int> _ in executor.MapFailFast(new[] { 0, 1, 2 }, async (x, _) =>
            {
                await Task.Yield();
                return x == 1 ? throw foreign : x;
            }))
            {
            }
        });

        Assert.That(thrown, Is.SameAs(foreign));
    }

    [Test]
    public async Task MapFailFast_without_failures_yields_every_item_like_Map()
    {
        await using var executor = new CurrentContextExecutor(4);
        var values = new List<int>();
        await foreach (MapResult<int, int> r in executor.MapFailFast(Enumerable.Range(0, 200), async (x, _) =>
        {
            await Task.Yield();
            return x * 2;
        }))
        {
            values.Add(r.Value);
        }

        Assert.That(values.Order(), Is.EqualTo(Enumerable.Range(0, 200).Select(x => x * 2)));
    }

    [Test]
    public async Task MapFailFast_cancelled_by_its_token_ends_with_OperationCanceledException_and_cancels_its_calls()
    {
        await using var executor = new CurrentContextExecutor(2);
        using var cts = new CancellationTokenSource();
        int cancelled = 0;
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task canceller = Task.Run(async () =>
        {
            await started.Task;
            await cts.CancelAsync();
        });
        await Assert.CatchAsync<OperationCanceledException>(async () =>
        {
            await foreach (MapResult<int, int> _ in executor.MapFailFast(new[] { 0, 1 }, async (x, ct) =>
            {
                try
                {
                    started.TrySetResult();
                    await Task.Delay(Timeout.Infinite, ct);
                    return x;
                }
                catch (OperationCanceledException)
                {
                    Interlocked.Increment(ref cancelled);
                    throw;
                }
            }, cts.Token))
            {
            }
        });
        await canceller.WaitAsync(Bound);

        Assert.That(cancelled, Is.InRange(1, 2));
        Assert.That(executor.OutstandingCount, Is.Zero);
    }

    [Test]
    public async Task A_cancelling_shutdown_during_MapFailFast_ends_it_with_ObjectDisposedException_not_the_cancellations()
    {
        var executor = new CurrentContextExecutor(2);
        Task? shutdown = null;
        int yielded = 0;
        await Assert.ThrowsAsync<ObjectDisposedException>(async () =>
        {
            await foreach (MapResult<int, int> _ in executor.MapFailFast(Enumerable.Range(0, 1_000), async (x, ct) =>
            {
                if (x == 0)
                {
                    shutdown = executor.CancelAndShutdownAsync();
                }

                await Task.Delay(Timeout.Infinite, ct);
                return x;
            }))
            {
                yielded++;
            }
        });

        await shutdown!.WaitAsync(Bound);
        Assert.That(yielded, Is.Zero);
        Assert.That(executor.OutstandingCount, Is.Zero);
    }

    [Test]
    public async Task MapOrderedFailFast_yields_input_order_up_to_the_failed_item_then_throws()
    {
        await using var executor = new CurrentContextExecutor(4);
        var failure = new FormatException("item 6");
        var yielded = new List<long>();
        FormatException? thrown = await Assert.ThrowsAsync<FormatException>(async () =>
        {
            await foreach (MapResult<int, int> r in executor.MapOrderedFailFast(Enumerable.Range(0, 50), async (x, ct) =>
            {
                await Task.Yield();
                return x == 6 ? throw failure : x;
            }, lookAhead: 4))
            {
                yielded.Add(r.Index);
            }
        });

        Assert.That(thrown, Is.SameAs(failure));
        Assert.That(yielded, Is.EqualTo(new long[] { 0, 1, 2, 3, 4, 5 }), "in input order, nothing past the failure");
        Assert.That(executor.OutstandingCount, Is.Zero);
    }

    [Test]
    public async Task MapFailFast_pulls_its_input_lazily_so_memory_stays_bounded_by_the_cap()
    {
        await using var executor = new CurrentContextExecutor(4);
        long pulled = 0;
        IEnumerable<long> Endless()
        {
            for (long i = 0; ; i++)
            {
                Interlocked.Increment(ref pulled);
                yield return i;
            }
        }

        int taken = 0;
        await foreach (MapResult<long, long> _ in executor.MapFailFast(Endless(), (x, _) => Task.FromResult(x)))
        {
            Assert.That(Interlocked.Read(ref pulled) - taken, Is.LessThanOrEqualTo(2 * 4 + 1));
            if (++taken == 1_000)
            {
                break;
            }
        }

        Assert.That(taken, Is.EqualTo(1_000));
    }

    [Test]
    public async Task MapAsTasks_yields_completed_tasks_in_completion_order()
    {
        await using var executor = new CurrentContextExecutor(3);
        var slow = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var failure = new FormatException("item 2");
        var order = new List<string>();
        await foreach (Task<int> task in executor.MapAsTasks(new[] { 0, 1, 2 }, (x, _) => x switch
        {
            0 => slow.Task,
            1 => Task.FromResult(10),
            _ => Task.FromException<int>(failure),
        }))
        {
            Assert.That(task.IsCompleted, Is.True, "every task yielded has completed");
            try
            {
                order.Add((await task).ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            catch (FormatException ex)
            {
                Assert.That(ex, Is.SameAs(failure));
                order.Add("failed");
            }

            if (order.Count == 2)
            {
                slow.SetResult(0);
            }
        }

        Assert.That(order, Is.EquivalentTo(new[] { "10", "failed", "0" }));
        Assert.That(order[2], Is.EqualTo("0"), "the slow item comes last");
    }

    [Test]
    public async Task MapAsTasks_yields_a_cancelled_task_for_a_call_that_ended_cancelled()
    {
        await using var executor = new CurrentContextExecutor(1);
        var tasks = new List<Task<int>>();
        await foreach (Task<int> task in executor.MapAsTasks(new[] { 0 }, (_, _) => Task.FromCanceled<int>(new CancellationToken(canceled: true))))
        {
            tasks.Add(task);
        }

        Assert.That(tasks.Single().IsCanceled, Is.True);
    }

    [Test]
    public async Task MapAsTasks_pulls_its_input_lazily_so_memory_stays_bounded_by_the_cap()
    {
        await using var executor = new CurrentContextExecutor(4);
        long pulled = 0;
        IEnumerable<long> Endless()
        {
            for (long i = 0; ; i++)
            {
                Interlocked.Increment(ref pulled);
                yield return i;
            }
        }

        int taken = 0;
        await foreach (Task<long> _ in executor.MapAsTasks(Endless(), (x, _) => Task.FromResult(x)))
        {
            Assert.That(Interlocked.Read(ref pulled) - taken, Is.LessThanOrEqualTo(2 * 4 + 1));
            if (++taken == 1_000)
            {
                break;
            }
        }

        Assert.That(taken, Is.EqualTo(1_000));
    }

    [Test]
    public async Task Breaking_out_of_MapAsTasks_cancels_its_running_calls_and_waits_for_them()
    {
        await using var executor = new CurrentContextExecutor(3);
        int started = 0;
        int cancelled = 0;
        await foreach (Task<int> _ in executor.MapAsTasks(Enumerable.Range(0, 100), async (x, ct) =>
        {
            if (x == 0)
            {
                return -1;
            }

            Interlocked.Increment(ref started);
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
                return x;
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref cancelled);
                throw;
            }
        }))
        {
            break;
        }

        Assert.That(cancelled, Is.EqualTo(started));
        Assert.That(executor.OutstandingCount, Is.Zero);
    }

    [Test]
    public async Task The_new_Map_forms_check_and_name_their_arguments()
    {
        await using var executor = new CurrentContextExecutor();
        Assert.That(Assert.Throws<ArgumentNullException>(() => executor.MapFailFast<int, int>(null!, (x, _) => Task.FromResult(x)))!.ParamName, Is.EqualTo("source"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => executor.MapFailFast<int, int>(new[] { 1 }, null!))!.ParamName, Is.EqualTo("function"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => executor.MapOrderedFailFast(new[] { 1 }, (x, _) => Task.FromResult(x), 0))!.ParamName, Is.EqualTo("lookAhead"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => executor.MapAsTasks<int, int>(null!, (x, _) => Task.FromResult(x)))!.ParamName, Is.EqualTo("source"));
        await executor.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => executor.MapFailFast(new[] { 1 }, (x, _) => Task.FromResult(x)));
        Assert.Throws<ObjectDisposedException>(() => executor.MapAsTasks(new[] { 1 }, (x, _) => Task.FromResult(x)));
    }
}
