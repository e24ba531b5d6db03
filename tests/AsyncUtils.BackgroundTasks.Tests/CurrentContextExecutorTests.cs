using System.Collections.Concurrent;

namespace AsyncUtils.Tests;

public sealed class CurrentContextExecutorTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Submit_returns_a_task_for_the_call()
    {
        await using var executor = new CurrentContextExecutor();
        Assert.That(await executor.Submit(async _ => { await Task.Yield(); return 42; }).WaitAsync(Bound), Is.EqualTo(42));
        await executor.Submit(_ => Task.CompletedTask).WaitAsync(Bound);
        await Assert.ThrowsAsync<FormatException>(async () => await executor.Submit<int>(_ => throw new FormatException()).WaitAsync(Bound));
        Assert.That(executor.MaxConcurrency, Is.Null);
    }

    [Test]
    public async Task The_cap_limits_concurrent_calls_and_queued_calls_start_in_order()
    {
        await using var executor = new CurrentContextExecutor(2);
        var gates = Enumerable.Range(0, 8).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        int running = 0;
        int peak = 0;
        var startOrder = new ConcurrentQueue<int>();
        using var started = new SemaphoreSlim(0);
        var tasks = Enumerable.Range(0, 8).Select(i => executor.Submit(async _ =>
        {
            startOrder.Enqueue(i);
            int now = Interlocked.Increment(ref running);
            InterlockedMax(ref peak, now);
            started.Release();
            await gates[i].Task;
            Interlocked.Decrement(ref running);
        })).ToArray();

        Assert.That(startOrder, Is.EqualTo(new[] { 0, 1 }), "only two start at once");

        // Free one slot at a time: each release lets exactly the next queued call start.
        for (int i = 0; i < 6; i++)
        {
            Assert.That(await started.WaitAsync(Bound), Is.True);
            if (i == 0)
            {
                Assert.That(await started.WaitAsync(Bound), Is.True);
            }

            gates[i].SetResult();
        }

        Assert.That(await started.WaitAsync(Bound), Is.True);
        gates[6].SetResult();
        gates[7].SetResult();
        await Task.WhenAll(tasks).WaitAsync(Bound);
        Assert.That(peak, Is.EqualTo(2));
        Assert.That(startOrder, Is.EqualTo(new[] { 0, 1, 2, 3, 4, 5, 6, 7 }));
        Assert.That(executor.MaxConcurrency, Is.EqualTo(2));
    }

    [Test]
    public async Task Calls_run_on_the_context_the_executor_was_created_on()
    {
        using var context = new SingleThreadContext();
        var threads = new ConcurrentBag<int>();
        int contextThread = await context.Run(async () =>
        {
            await using var executor = new CurrentContextExecutor(1);
            var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Task first = executor.Submit(async _ => { threads.Add(Environment.CurrentManagedThreadId); await release.Task; });
            Task second = executor.Submit(_ => { threads.Add(Environment.CurrentManagedThreadId); return Task.CompletedTask; });
            _ = Task.Run(release.SetResult); // the slot frees on a pool thread; the next call must still run on the context
            await Task.WhenAll(first, second);
            await foreach (MapResult<int, int> r in executor.Map(Enumerable.Range(0, 5), (x, _) => { threads.Add(Environment.CurrentManagedThreadId); return Task.FromResult(x); }))
            {
                Assert.That(r.IsSuccess, Is.True);
            }

            return Environment.CurrentManagedThreadId;
        }).WaitAsync(Bound);

        Assert.That(threads, Has.Count.EqualTo(7).And.All.EqualTo(context.ThreadId));
        Assert.That(contextThread, Is.EqualTo(context.ThreadId));
    }

    [Test]
    public async Task Submitting_after_close_throws()
    {
        var executor = new CurrentContextExecutor();
        await executor.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => executor.Submit(_ => Task.CompletedTask));
        Assert.Throws<ObjectDisposedException>(() => executor.Submit(_ => Task.FromResult(1)));
        Assert.Throws<ObjectDisposedException>(() => executor.Map(new[] { 1 }, (x, _) => Task.FromResult(x)));
    }

    [Test]
    public async Task Disposal_waits_for_every_submitted_call_queued_ones_included()
    {
        var executor = new CurrentContextExecutor(1);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task first = executor.Submit(async _ => await release.Task);
        bool queuedRan = false;
        Task queued = executor.Submit(_ => { queuedRan = true; return Task.CompletedTask; });

        ValueTask closing = executor.DisposeAsync();
        Assert.That(closing.IsCompleted, Is.False);
        release.SetResult();
        await closing.AsTask().WaitAsync(Bound);

        Assert.That(first.IsCompletedSuccessfully && queued.IsCompletedSuccessfully, Is.True);
        Assert.That(queuedRan, Is.True);
    }

    [Test]
    public async Task Cancelling_shutdown_cancels_running_calls_and_drops_queued_ones()
    {
        var executor = new CurrentContextExecutor(1);
        Task running = executor.Submit(ct => Task.Delay(Timeout.Infinite, ct));
        bool queuedRan = false;
        Task queued = executor.Submit(_ => { queuedRan = true; return Task.CompletedTask; });

        await executor.CancelAndShutdownAsync().WaitAsync(Bound);

        Assert.That(running.IsCanceled, Is.True);
        Assert.That(queued.IsCanceled, Is.True);
        Assert.That(queuedRan, Is.False);
        Assert.That(executor.OutstandingCount, Is.Zero);
        Assert.Throws<ObjectDisposedException>(() => executor.Submit(_ => Task.CompletedTask));
    }

    [Test]
    public async Task Map_yields_results_as_they_complete()
    {
        await using var executor = new CurrentContextExecutor(2);
        var slow = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var seen = new List<long>();
        await foreach (MapResult<int, int> r in executor.Map(new[] { 0, 1, 2 }, (x, _) => x == 0 ? slow.Task : Task.FromResult(x * 10)).WithCancellation(CancellationToken.None))
        {
            seen.Add(r.Index);
            if (seen.Count == 2)
            {
                slow.SetResult(0);
            }
        }

        Assert.That(seen, Is.EqualTo(new long[] { 1, 2, 0 }));
    }

    [Test]
    public async Task A_failing_item_is_reported_as_its_result_and_the_rest_go_on()
    {
        await using var executor = new CurrentContextExecutor(3);
        var results = new List<MapResult<int, int>>();
        await foreach (MapResult<int, int> r in executor.Map(Enumerable.Range(0, 20), async (x, _) =>
        {
            await Task.Yield();
            return x == 7 ? throw new FormatException("seven") : x;
        }))
        {
            results.Add(r);
        }

        Assert.That(results, Has.Count.EqualTo(20));
        MapResult<int, int> failed = results.Single(r => !r.IsSuccess);
        Assert.That(failed.Index, Is.EqualTo(7));
        Assert.That(failed.Item, Is.EqualTo(7));
        Assert.That(failed.Exception, Is.InstanceOf<FormatException>());
        Assert.Throws<FormatException>(() => _ = failed.Value);
        Assert.That(results.Where(r => r.IsSuccess).Sum(r => r.Value), Is.EqualTo(Enumerable.Range(0, 20).Sum() - 7));
    }

    [Test]
    public async Task Map_pulls_its_input_lazily_so_memory_stays_bounded_by_the_cap()
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
        await foreach (MapResult<long, long> r in executor.Map(Endless(), (x, _) => Task.FromResult(x)))
        {
            long inFlight = Interlocked.Read(ref pulled) - taken;
            Assert.That(inFlight, Is.LessThanOrEqualTo(2 * 4 + 1), "at most a lane's item each plus a window of results");
            if (++taken == 1_000)
            {
                break;
            }
        }

        Assert.That(taken, Is.EqualTo(1_000));
    }

    [Test]
    public async Task Breaking_out_of_a_Map_cancels_its_running_calls_and_waits_for_them()
    {
        await using var executor = new CurrentContextExecutor(3);
        var cancelledCalls = 0;
        var startedCalls = 0;
        var firstDone = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        firstDone.SetResult(-1);
        await foreach (MapResult<int, int> r in executor.Map(Enumerable.Range(0, 100), async (x, ct) =>
        {
            if (x == 0)
            {
                return await firstDone.Task;
            }

            Interlocked.Increment(ref startedCalls);
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
                return x;
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref cancelledCalls);
                throw;
            }
        }))
        {
            // Let the other lanes start their calls, so there are running calls to cancel: a break
            // right away may legitimately come before they take an item at all.
            while (Volatile.Read(ref startedCalls) < 2)
            {
                await Task.Yield();
            }

            break;
        }

        Assert.That(startedCalls, Is.InRange(2, 3), "never more calls at once than the cap");
        Assert.That(cancelledCalls, Is.EqualTo(startedCalls), "every call still running was cancelled before the iteration ended");
        Assert.That(executor.OutstandingCount, Is.Zero);
    }

    [Test]
    public async Task MapOrdered_yields_input_order_and_runs_at_most_look_ahead_past_the_oldest_unfinished_item()
    {
        await using var executor = new CurrentContextExecutor(8);
        var slow = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        int highestStarted = -1;
        var seen = new List<int>();
        Task release = Task.Run(async () =>
        {
            while (Volatile.Read(ref highestStarted) < 2)
            {
                await Task.Yield();
            }

            slow.SetResult(0);
        });

        await foreach (MapResult<int, int> r in executor.MapOrdered(Enumerable.Range(0, 50), (x, _) =>
        {
            InterlockedMax(ref highestStarted, x);
            if (!slow.Task.IsCompleted)
            {
                Assert.That(x, Is.LessThan(3), "no item beyond the look-ahead starts while item 0 is unfinished");
            }

            return x == 0 ? slow.Task : Task.FromResult(x);
        }, lookAhead: 3))
        {
            seen.Add(r.Value);
        }

        await release.WaitAsync(Bound);
        Assert.That(seen, Is.EqualTo(Enumerable.Range(0, 50)));
    }

    [Test]
    public async Task An_input_sequence_that_throws_ends_the_iteration_with_its_exception_after_the_results_before_it()
    {
        await using var executor = new CurrentContextExecutor(1);
        IEnumerable<int> Broken()
        {
            yield return 1;
            yield return 2;
            throw new FormatException("source");
        }

        var seen = new List<int>();
        var ex = await Assert.ThrowsAsync<FormatException>(async () =>
        {
            await foreach (MapResult<int, int> r in executor.MapOrdered(Broken(), (x, _) => Task.FromResult(x), lookAhead: 2))
            {
                seen.Add(r.Value);
            }
        });
        Assert.That(ex!.Message, Is.EqualTo("source"));
        Assert.That(seen, Is.EqualTo(new[] { 1, 2 }));

        seen.Clear();
        await Assert.ThrowsAsync<FormatException>(async () =>
        {
            await foreach (MapResult<int, int> r in executor.Map(Broken(), (x, _) => Task.FromResult(x)))
            {
                seen.Add(r.Value);
            }
        });
        Assert.That(seen, Is.EquivalentTo(new[] { 1, 2 }));
    }

    [Test]
    public async Task Cancelling_the_iteration_token_ends_a_Map()
    {
        await using var executor = new CurrentContextExecutor(2);
        using var cts = new CancellationTokenSource();
        int count = 0;
        await Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), async () =>
        {
            await foreach (MapResult<int, int> r in executor.Map(Enumerable.Range(0, 1_000_000), (x, _) => Task.FromResult(x), cts.Token))
            {
                if (++count == 10)
                {
                    await cts.CancelAsync();
                }
            }
        });
        Assert.That(count, Is.LessThan(1_000));
    }

    [Test]
    public async Task A_Map_running_when_the_executor_closes_ends_with_ObjectDisposedException()
    {
        var executor = new CurrentContextExecutor(2);
        var seen = 0;
        Task? closing = null;
        await Assert.ThrowsAsync<ObjectDisposedException>(async () =>
        {
            await foreach (MapResult<int, int> r in executor.Map(Enumerable.Range(0, 1_000_000), (x, _) => Task.FromResult(x)))
            {
                if (++seen == 5)
                {
                    closing = executor.DisposeAsync().AsTask();
                }
            }
        });
        Assert.That(seen, Is.LessThan(1_000));
        await closing!.WaitAsync(Bound);
    }

    [Test]
    public async Task A_cancelling_shutdown_during_a_Map_cancels_its_calls_and_ends_the_iteration()
    {
        var executor = new CurrentContextExecutor(2);
        var submittedRunning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task blocker = executor.Submit(async ct => { submittedRunning.SetResult(); await Task.Delay(Timeout.Infinite, ct); });
        await submittedRunning.Task.WaitAsync(Bound);
        var results = new List<MapResult<int, int>>();
        Task? shutdown = null;
        await Assert.ThrowsAsync<ObjectDisposedException>(async () =>
        {
            await foreach (MapResult<int, int> r in executor.Map(Enumerable.Range(0, 1_000), async (x, ct) =>
            {
                if (x == 0)
                {
                    shutdown = executor.CancelAndShutdownAsync();
                }

                await Task.Delay(Timeout.Infinite, ct);
                return x;
            }))
            {
                results.Add(r);
            }
        });

        await shutdown!.WaitAsync(Bound);
        Assert.That(blocker.IsCanceled, Is.True);
        Assert.That(results, Has.Count.LessThanOrEqualTo(2).And.All.Matches<MapResult<int, int>>(r => r.Exception is OperationCanceledException));
        Assert.That(executor.OutstandingCount, Is.Zero);
    }

    [Test]
    public async Task A_large_Map_with_a_small_cap_delivers_every_item_exactly_once()
    {
        await using var executor = new CurrentContextExecutor(8);
        var seen = new bool[50_000];
        int count = 0;
        await foreach (MapResult<int, int> r in executor.Map(Enumerable.Range(0, seen.Length), async (x, _) =>
        {
            if (x % 100 == 0)
            {
                await Task.Yield();
            }

            return x;
        }))
        {
            Assert.That(seen[r.Value], Is.False);
            seen[r.Value] = true;
            count++;
        }

        Assert.That(count, Is.EqualTo(seen.Length));
    }

    [Test]
    public async Task MapOrdered_pulls_its_input_lazily_so_memory_stays_bounded_by_the_look_ahead()
    {
        await using var executor = new CurrentContextExecutor(8);
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
        await foreach (MapResult<long, long> r in executor.MapOrdered(Endless(), (x, _) => Task.FromResult(x), lookAhead: 5))
        {
            Assert.That(r.Value, Is.EqualTo(taken));
            long inFlight = Interlocked.Read(ref pulled) - taken;
            Assert.That(inFlight, Is.LessThanOrEqualTo(5 + 1), "at most the look-ahead taken and not yet consumed, plus the one being consumed");
            if (++taken == 1_000)
            {
                break;
            }
        }

        Assert.That(taken, Is.EqualTo(1_000));
    }

    [Test]
    public async Task Map_with_slow_calls_runs_every_lane_again_after_the_consumer_fell_behind()
    {
        // Every call waits until four calls wait together: the Map finishes only if, each time, all
        // four lanes run at once, including after the consumer fell behind and the lanes parked.
        await using var executor = new CurrentContextExecutor(4);
        var gate = new object();
        int waiting = 0;
        var barrier = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long pulled = 0;
        IEnumerable<int> Source()
        {
            for (int i = 0; i < 40; i++)
            {
                Interlocked.Increment(ref pulled);
                yield return i;
            }
        }

        async Task<int> CallAsync(int x, CancellationToken cancellationToken)
        {
            Task all;
            lock (gate)
            {
                all = barrier.Task;
                if (++waiting == 4)
                {
                    waiting = 0;
                    barrier.SetResult();
                    barrier = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
            }

            await all.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
            return x;
        }

        int taken = 0;
        await foreach (MapResult<int, int> r in executor.Map(Source(), CallAsync))
        {
            Assert.That(r.IsSuccess, Is.True, () => $"not four calls at once: {r.Exception}");
            if (taken++ == 0)
            {
                // Fall behind: let the lanes fill the window (twice the cap) and park.
                while (Interlocked.Read(ref pulled) < 8)
                {
                    await Task.Yield();
                }
            }
        }

        Assert.That(taken, Is.EqualTo(40));
    }

    [Test]
    public async Task Arguments_are_checked_and_named()
    {
        await using var executor = new CurrentContextExecutor();
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => _ = new CurrentContextExecutor(0))!.ParamName, Is.EqualTo("maxConcurrency"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => executor.Submit((Func<CancellationToken, Task>)null!))!.ParamName, Is.EqualTo("function"));
        Assert.That(Assert.Throws<ArgumentNullException>(() => executor.Map<int, int>(null!, (x, _) => Task.FromResult(x)))!.ParamName, Is.EqualTo("source"));
        Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => executor.MapOrdered(new[] { 1 }, (x, _) => Task.FromResult(x), 0))!.ParamName, Is.EqualTo("lookAhead"));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current = Volatile.Read(ref target);
        while (value > current)
        {
            int seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
