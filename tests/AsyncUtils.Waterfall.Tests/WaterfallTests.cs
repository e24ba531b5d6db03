using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

public sealed class WaterfallTests
{
    private static readonly TimeSpan Bound = BatchRecorder<int>.Bound;

    private readonly FakeTimeProvider _time = new();

    private WaterfallOptions Options(int maxBatchSize, int? maxConcurrent = null, TimeSpan? finalizeTimeout = null, bool ordered = false) => new()
    {
        MaxBatchSize = maxBatchSize,
        OrderedDelivery = ordered,
        MaxWait = TimeSpan.FromSeconds(1),
        MaxConcurrentBatches = maxConcurrent,
        FinalizeTimeout = finalizeTimeout,
        TimeProvider = _time,
    };

    [Test]
    public async Task A_batch_is_dispatched_as_soon_as_it_is_full()
    {
        using var recorder = new BatchRecorder<int>();
        await using var waterfall = new Waterfall<int>(recorder.Callback, Options(3));
        waterfall.Start();
        for (int i = 1; i <= 7; i++)
        {
            waterfall.Put(i);
        }

        await recorder.WaitForAsync(2);
        Assert.That(recorder.Batches, Is.EquivalentTo(new[] { new[] { 1, 2, 3 }, new[] { 4, 5, 6 } }));
        WaterfallStatistics stats = waterfall.GetStatistics();
        Assert.That((stats.BatchesByCount, stats.BatchesByTime, stats.ItemsBatched), Is.EqualTo((2L, 0L, 6L)));

        // Item 7 waits for its batch's maximum wait; no real time needs to pass for the rest.
        _time.Advance(TimeSpan.FromSeconds(1));
        await recorder.WaitForAsync(1);
        Assert.That(recorder.Batches.Last(), Is.EqualTo(new[] { 7 }));
        Assert.That(waterfall.GetStatistics().BatchesByTime, Is.EqualTo(1));
    }

    [Test]
    public async Task The_maximum_wait_is_measured_from_the_batchs_first_item()
    {
        using var recorder = new BatchRecorder<string>();
        await using var waterfall = new Waterfall<string>(recorder.Callback, Options(100));
        waterfall.Start();

        waterfall.Put("a");
        _time.Advance(TimeSpan.FromMilliseconds(600));
        waterfall.Put("b");
        _time.Advance(TimeSpan.FromMilliseconds(399));
        Assert.That(waterfall.GetStatistics().Batches, Is.Zero, "999 ms after the first item");

        _time.Advance(TimeSpan.FromMilliseconds(1));
        await recorder.WaitForAsync(1);
        Assert.That(recorder.Batches.Single(), Is.EqualTo(new[] { "a", "b" }), "b did not extend a's wait");

        waterfall.Put("c");
        _time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.That(waterfall.GetStatistics().Batches, Is.EqualTo(1), "the next batch's wait starts at its own first item");
        _time.Advance(TimeSpan.FromMilliseconds(1));
        await recorder.WaitForAsync(1);
        Assert.That(recorder.Batches.Last(), Is.EqualTo(new[] { "c" }));
        Assert.That(waterfall.GetStatistics().BatchesByTime, Is.EqualTo(2));
    }

    [Test]
    public async Task A_count_flush_restarts_the_wait_for_the_next_batch()
    {
        using var recorder = new BatchRecorder<int>();
        await using var waterfall = new Waterfall<int>(recorder.Callback, Options(2));
        waterfall.Start();

        waterfall.Put(1);
        _time.Advance(TimeSpan.FromMilliseconds(900));
        waterfall.Put(2);
        await recorder.WaitForAsync(1);
        waterfall.Put(3);

        // 1 s after item 1 (when its timer would have fired) item 3 has waited only 100 ms.
        _time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.That(waterfall.GetStatistics().Batches, Is.EqualTo(1));
        _time.Advance(TimeSpan.FromMilliseconds(900));
        await recorder.WaitForAsync(1);
        Assert.That(recorder.Batches, Is.EqualTo(new[] { new[] { 1, 2 }, new[] { 3 } }));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Stop_delivers_every_item_in_full_size_chunks_and_waits_for_the_callbacks(bool ordered)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var recorder = new BatchRecorder<int> { Inner = async (_, _) => await gate.Task };
        var waterfall = new Waterfall<int>(recorder.Callback, Options(10, maxConcurrent: 1, ordered: ordered));
        waterfall.Start();
        for (int i = 0; i < 95; i++)
        {
            waterfall.Put(i);
        }

        await recorder.WaitForAsync(1); // the first batch is running and blocked; eight more wait
        Task stop = waterfall.StopAsync();
        Assert.That(stop.IsCompleted, Is.False);
        Assert.That(waterfall.TryPut(95), Is.False);
        Assert.Throws<InvalidOperationException>(() => waterfall.Put(95));

        gate.SetResult();
        await stop.WaitAsync(Bound);

        Assert.That(recorder.Items(), Is.EqualTo(Enumerable.Range(0, 95)), "every item, once, in order");
        Assert.That(recorder.Batches.Select(b => b.Count), Is.EqualTo(Enumerable.Repeat(10, 9).Append(5)));
        WaterfallStatistics stats = waterfall.GetStatistics();
        Assert.That((stats.BatchesByCount, stats.BatchesByTime, stats.BatchesByStop), Is.EqualTo((9L, 0L, 1L)));
        Assert.That(stats.BatchesCompleted, Is.EqualTo(10));
        Assert.That(waterfall.StopAsync(), Is.SameAs(stop), "stopping again returns the same task");
        await waterfall.DisposeAsync();
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Stopping_with_nothing_pending_completes_at_once_and_never_delivers_an_empty_batch(bool ordered)
    {
        using var recorder = new BatchRecorder<int>();
        var waterfall = new Waterfall<int>(recorder.Callback, Options(10, ordered: ordered));
        waterfall.Start();
        Task stop = waterfall.StopAsync();
        Assert.That(stop.IsCompletedSuccessfully, Is.True);
        _time.Advance(TimeSpan.FromHours(1));
        Assert.That(recorder.Batches, Is.Empty);
        Assert.That(waterfall.GetStatistics(), Is.EqualTo(default(WaterfallStatistics)));
        await waterfall.DisposeAsync();
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_finalize_timeout_cancels_the_callbacks_token_and_hands_waiting_batches_over_cancelled(bool ordered)
    {
        var tokensCancelledAtStart = new List<bool>();
        var failures = new List<WaterfallCallbackFailedEventArgs<int>>();
        using var recorder = new BatchRecorder<int>
        {
            Inner = async (batch, token) =>
            {
                lock (tokensCancelledAtStart)
                {
                    tokensCancelledAtStart.Add(token.IsCancellationRequested);
                }

                if (batch[0] == 0)
                {
                    await Task.Delay(Timeout.Infinite, token); // a callback that only the token ends
                }
            },
        };
        var waterfall = new Waterfall<int>(recorder.Callback, Options(2, maxConcurrent: 1, finalizeTimeout: TimeSpan.FromSeconds(5), ordered: ordered));
        waterfall.CallbackFailed += (_, e) =>
        {
            lock (failures)
            {
                failures.Add(e);
            }
        };
        waterfall.Start();
        for (int i = 0; i < 4; i++)
        {
            waterfall.Put(i);
        }

        await recorder.WaitForAsync(1);
        Task stop = waterfall.StopAsync();
        _time.Advance(TimeSpan.FromMilliseconds(4_999));
        Assert.That(stop.IsCompleted, Is.False, "before the finalize timeout the callback is left alone");

        _time.Advance(TimeSpan.FromMilliseconds(1));
        await stop.WaitAsync(Bound);

        Assert.That(recorder.Items(), Is.EqualTo(new[] { 0, 1, 2, 3 }), "the waiting batch was still handed over");
        Assert.That(tokensCancelledAtStart, Is.EqualTo(new[] { false, true }));
        Assert.That(failures, Has.Count.EqualTo(1));
        Assert.That(failures[0].Exception, Is.InstanceOf<OperationCanceledException>());
        Assert.That(failures[0].Batch, Is.EqualTo(new[] { 0, 1 }));
        WaterfallStatistics stats = waterfall.GetStatistics();
        Assert.That((stats.BatchesCompleted, stats.BatchesFailed), Is.EqualTo((2L, 1L)));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_zero_finalize_timeout_cancels_the_token_as_the_stop_begins(bool ordered)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var recorder = new BatchRecorder<int>
        {
            Inner = async (_, token) =>
            {
                started.SetResult();
                await Task.Delay(Timeout.Infinite, token);
            },
        };
        var waterfall = new Waterfall<int>(recorder.Callback, Options(1, finalizeTimeout: TimeSpan.Zero, ordered: ordered));
        waterfall.Start();
        waterfall.Put(1);
        await started.Task.WaitAsync(Bound);
        await waterfall.StopAsync().WaitAsync(Bound);
        Assert.That(waterfall.GetStatistics().BatchesFailed, Is.EqualTo(1));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_throwing_callback_is_reported_its_items_count_as_handled_and_the_loop_goes_on(bool ordered)
    {
        var failures = new List<WaterfallCallbackFailedEventArgs<int>>();
        using var recorder = new BatchRecorder<int>
        {
            Inner = (batch, _) => batch[0] == 1 ? throw new InvalidDataException("bad batch") : ValueTask.CompletedTask,
        };
        await using var waterfall = new Waterfall<int>(recorder.Callback, Options(2, maxConcurrent: 1, ordered: ordered));
        waterfall.CallbackFailed += (sender, e) =>
        {
            Assert.That(sender, Is.SameAs(waterfall));
            lock (failures)
            {
                failures.Add(e);
            }
        };
        waterfall.CallbackFailed += (_, _) => throw new InvalidOperationException("a faulty handler is ignored");
        waterfall.Start();
        for (int i = 1; i <= 4; i++)
        {
            waterfall.Put(i);
        }

        await waterfall.StopAsync().WaitAsync(Bound);
        Assert.That(recorder.Items(), Is.EqualTo(new[] { 1, 2, 3, 4 }));
        Assert.That(failures, Has.Count.EqualTo(1));
        Assert.That(failures[0].Exception, Is.InstanceOf<InvalidDataException>());
        Assert.That(failures[0].Batch, Is.EqualTo(new[] { 1, 2 }));
        Assert.That(failures[0].Reason, Is.EqualTo(WaterfallFlushReason.Count));
        WaterfallStatistics stats = waterfall.GetStatistics();
        Assert.That((stats.BatchesCompleted, stats.BatchesFailed), Is.EqualTo((2L, 1L)));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_callback_that_throws_synchronously_is_reported_like_one_that_faults(bool ordered)
    {
        int reported = 0;
        static ValueTask Throws(IReadOnlyList<int> batch, CancellationToken token) => throw new FormatException("sync throw");
        await using var waterfall = new Waterfall<int>(Throws, Options(1, ordered: ordered));
        waterfall.CallbackFailed += (_, e) => Interlocked.Increment(ref reported);
        waterfall.Start();
        waterfall.Put(1);
        waterfall.Put(2);
        await waterfall.StopAsync().WaitAsync(Bound);
        Assert.That(reported, Is.EqualTo(2));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Batches_run_while_the_next_is_collected_and_the_concurrency_cap_is_respected(bool ordered)
    {
        int running = 0;
        int maxRunning = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var recorder = new BatchRecorder<int>
        {
            Inner = async (_, _) =>
            {
                int now = Interlocked.Increment(ref running);
                InterlockedMax(ref maxRunning, now);
                await gate.Task;
                Interlocked.Decrement(ref running);
            },
        };
        await using var waterfall = new Waterfall<int>(recorder.Callback, Options(2, maxConcurrent: 2, ordered: ordered));
        try
        {
            waterfall.Start();
            for (int i = 0; i < 10; i++)
            {
                waterfall.Put(i); // never waits for the blocked callbacks
            }

            await recorder.WaitForAsync(2);
            Assert.That(waterfall.GetStatistics().BatchesByCount, Is.EqualTo(5), "all five batches were formed while two ran");
            Assert.That(Volatile.Read(ref running), Is.EqualTo(2));
        }
        finally
        {
            gate.TrySetResult(); // also when an assertion failed, so that disposal can finish
        }

        await recorder.WaitForAsync(3);
        await waterfall.StopAsync().WaitAsync(Bound);
        Assert.That(maxRunning, Is.EqualTo(2));
        Assert.That(recorder.Items(), Is.EquivalentTo(Enumerable.Range(0, 10)));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Without_a_cap_a_slow_batch_does_not_hold_back_the_next(bool ordered)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var recorder = new BatchRecorder<int> { Inner = async (batch, _) => { if (batch[0] == 0) { await gate.Task; } } };
        await using var waterfall = new Waterfall<int>(recorder.Callback, Options(1, ordered: ordered));
        try
        {
            waterfall.Start();
            waterfall.Put(0);
            waterfall.Put(1);
            waterfall.Put(2);
            await recorder.WaitForAsync(3); // batches 1 and 2 were delivered while batch 0 was still running
        }
        finally
        {
            gate.TrySetResult();
        }

        await waterfall.StopAsync().WaitAsync(Bound);
        Assert.That(waterfall.GetStatistics().BatchesCompleted, Is.EqualTo(3));
    }

    [Test]
    public async Task Idle_costs_no_timer_ticks_before_between_and_after_batches()
    {
        var clock = new CountingTimeProvider();
        using var recorder = new BatchRecorder<int>();
        await using var waterfall = new Waterfall<int>(recorder.Callback, new WaterfallOptions
        {
            MaxBatchSize = 2,
            MaxWait = TimeSpan.FromSeconds(1),
            TimeProvider = clock,
        });
        waterfall.Start();
        clock.Fake.Advance(TimeSpan.FromHours(1));
        Assert.That(clock.Ticks, Is.Zero, "no ticks while empty");

        waterfall.Put(1);
        waterfall.Put(2); // a full batch disarms its timer
        await recorder.WaitForAsync(1);
        clock.Fake.Advance(TimeSpan.FromHours(1));
        Assert.That(clock.Ticks, Is.Zero, "a count flush leaves no timer behind");

        waterfall.Put(3);
        clock.Fake.Advance(TimeSpan.FromHours(1));
        await recorder.WaitForAsync(1);
        Assert.That(clock.Ticks, Is.EqualTo(1), "exactly one tick for one time-flushed batch");
        clock.Fake.Advance(TimeSpan.FromHours(1));
        Assert.That(clock.Ticks, Is.EqualTo(1));
    }

    [Test]
    public async Task StopAsync_cancellation_abandons_only_the_callers_wait()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var recorder = new BatchRecorder<int> { Inner = async (_, _) => await gate.Task };
        var waterfall = new Waterfall<int>(recorder.Callback, Options(1));
        waterfall.Start();
        waterfall.Put(1);
        waterfall.Put(2);
        await recorder.WaitForAsync(2);

        using var cts = new CancellationTokenSource();
        Task abandoned = waterfall.StopAsync(cts.Token);
        await cts.CancelAsync();
        await Assert.CatchAsync<OperationCanceledException>(() => abandoned.WaitAsync(Bound));

        Task stop = waterfall.StopAsync();
        Assert.That(stop.IsCompleted, Is.False, "the stop itself goes on");
        gate.SetResult();
        await stop.WaitAsync(Bound);
        Assert.That(waterfall.GetStatistics().BatchesCompleted, Is.EqualTo(2));
    }

    [Test]
    public async Task DisposeAsync_stops_and_delivers_what_was_collected()
    {
        using var recorder = new BatchRecorder<int>();
        var waterfall = new Waterfall<int>(recorder.Callback, Options(10));
        waterfall.Start();
        waterfall.Put(1);
        waterfall.Put(2);
        await waterfall.DisposeAsync().AsTask().WaitAsync(Bound);
        Assert.That(recorder.Batches.Single(), Is.EqualTo(new[] { 1, 2 }));
        Assert.That(waterfall.GetStatistics().BatchesByStop, Is.EqualTo(1));
        Assert.Throws<ObjectDisposedException>(() => waterfall.Put(3));
        Assert.Throws<ObjectDisposedException>(() => waterfall.Start());
        Assert.That(waterfall.TryPut(3), Is.False);
        await waterfall.DisposeAsync(); // a second disposal is a no-op
    }

    [Test]
    public async Task Start_twice_throws_and_Put_is_refused_before_Start_and_after_Stop()
    {
        using var recorder = new BatchRecorder<int>();
        await using var waterfall = new Waterfall<int>(recorder.Callback, Options(10));
        var notStarted = Assert.Throws<InvalidOperationException>(() => waterfall.Put(1));
        Assert.That(notStarted!.Message, Does.Contain("Start"));
        Assert.That(waterfall.TryPut(1), Is.False);

        waterfall.Start();
        Assert.Throws<InvalidOperationException>(() => waterfall.Start());
        waterfall.Put(1); // still running after the refused Start

        await waterfall.StopAsync().WaitAsync(Bound);
        var stopped = Assert.Throws<InvalidOperationException>(() => waterfall.Put(2));
        Assert.That(stopped!.Message, Does.Contain("stopped"));
        Assert.Throws<InvalidOperationException>(() => waterfall.Start());
        Assert.That(recorder.Items(), Is.EqualTo(new[] { 1 }));
    }

    [Test]
    public async Task Stopping_before_Start_ends_a_waterfall_that_never_ran()
    {
        using var recorder = new BatchRecorder<int>();
        await using var waterfall = new Waterfall<int>(recorder.Callback, Options(10));
        Assert.That(waterfall.StopAsync().IsCompletedSuccessfully, Is.True);
        Assert.Throws<InvalidOperationException>(() => waterfall.Start());
        Assert.That(waterfall.TryPut(1), Is.False);
    }

    [Test]
    public async Task A_batch_of_one_is_delivered_at_once_without_arming_the_timer()
    {
        var clock = new CountingTimeProvider();
        using var recorder = new BatchRecorder<int>();
        await using var waterfall = new Waterfall<int>(recorder.Callback, new WaterfallOptions { MaxBatchSize = 1, TimeProvider = clock });
        waterfall.Start();
        waterfall.Put(7);
        await recorder.WaitForAsync(1);
        clock.Fake.Advance(TimeSpan.FromHours(1));
        Assert.That(clock.Ticks, Is.Zero);
        Assert.That(recorder.Batches.Single(), Is.EqualTo(new[] { 7 }));
    }

    [Test]
    public void Each_batch_is_a_new_list_the_callback_may_keep()
    {
        var kept = new List<IReadOnlyList<string>>();
        using var recorder = new BatchRecorder<string>
        {
            Inner = (batch, _) =>
            {
                lock (kept)
                {
                    kept.Add(batch);
                }

                return ValueTask.CompletedTask;
            },
        };
        var waterfall = new Waterfall<string>(recorder.Callback, Options(2, maxConcurrent: 1));
        waterfall.Start();
        foreach (string s in new[] { "a", "b", "c", "d", "e" })
        {
            waterfall.Put(s);
        }

        _time.Advance(TimeSpan.FromSeconds(1));
        waterfall.StopAsync().WaitAsync(Bound).GetAwaiter().GetResult();
        Assert.That(kept, Is.EqualTo(new[] { new[] { "a", "b" }, new[] { "c", "d" }, new[] { "e" } }));
        Assert.That(kept.Distinct().Count(), Is.EqualTo(3));
    }

    [Test]
    public void Bad_options_and_arguments_are_rejected_naming_them()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => _ = new WaterfallOptions { MaxBatchSize = 0 })!.ParamName, Is.EqualTo("MaxBatchSize"));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => _ = new WaterfallOptions { MaxWait = TimeSpan.Zero })!.ParamName, Is.EqualTo("MaxWait"));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => _ = new WaterfallOptions { MaxWait = Timeout.InfiniteTimeSpan })!.ParamName, Is.EqualTo("MaxWait"));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => _ = new WaterfallOptions { MaxConcurrentBatches = 0 })!.ParamName, Is.EqualTo("MaxConcurrentBatches"));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => _ = new WaterfallOptions { FinalizeTimeout = TimeSpan.FromSeconds(-2) })!.ParamName, Is.EqualTo("FinalizeTimeout"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => _ = new Waterfall<int>(null!))!.ParamName, Is.EqualTo("callback"));
            Assert.That(new WaterfallOptions { FinalizeTimeout = Timeout.InfiniteTimeSpan }.FinalizeTimeout, Is.Null, "infinite means none");
        }
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
