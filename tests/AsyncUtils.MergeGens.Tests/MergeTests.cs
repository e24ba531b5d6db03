namespace AsyncUtils.Tests;

public sealed class MergeTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Items_come_in_the_order_they_arrive()
    {
        var a = new ManualSource<int>("a");
        var b = new ManualSource<int>("b");
        var c = new ManualSource<int>("c");
        await using IAsyncEnumerator<int> merged = AsyncMerge.Merge(a, b, c).GetAsyncEnumerator();

        Assert.That(await Next(merged, () => c.Yield(1)), Is.EqualTo(1));
        Assert.That(await Next(merged, () => a.Yield(2)), Is.EqualTo(2));
        Assert.That(await Next(merged, () => b.Yield(3)), Is.EqualTo(3));
        Assert.That(await Next(merged, () => c.Yield(4)), Is.EqualTo(4));

        Task<bool> end = merged.MoveNextAsync().AsTask();
        a.End();
        b.End();
        Assert.That(end.IsCompleted, Is.False, "c has not ended yet");
        c.End();
        Assert.That(await end.WaitAsync(Bound), Is.False);
        Assert.That(new[] { a.DisposeCalls, b.DisposeCalls, c.DisposeCalls }, Is.EqualTo(new[] { 1, 1, 1 }), "each source disposed once, when it ended");
    }

    [Test]
    public async Task Sources_that_are_always_ready_take_turns_and_keep_their_own_order()
    {
        var gens = new[] { new CountingGenerator(0, 3), new CountingGenerator(10, 5), new CountingGenerator(20, 3) };
        List<int> items = await Collect(AsyncMerge.Merge(gens.Select(g => g.Run())));
        Assert.That(items, Is.EqualTo(new[] { 0, 10, 20, 1, 11, 21, 2, 12, 22, 13, 14 }));
        Assert.That(gens.All(g => g.FinallyRan), Is.True);
    }

    [Test]
    public async Task A_source_takes_its_next_step_only_when_the_consumer_asks_for_the_next_item()
    {
        var a = new ManualSource<int>("a");
        var b = new ManualSource<int>("b");
        await using IAsyncEnumerator<int> merged = AsyncMerge.Merge(a, b).GetAsyncEnumerator();
        Assert.That(a.Enumerations, Is.Zero, "nothing is asked before the first MoveNextAsync");

        Task<bool> first = merged.MoveNextAsync().AsTask();
        Assert.That((a.MoveNextCalls, b.MoveNextCalls), Is.EqualTo((1, 1)));
        a.Yield(1);
        a.Yield(2); // available at once, but nobody asked
        Assert.That(await first.WaitAsync(Bound), Is.True);
        Assert.That(merged.Current, Is.EqualTo(1));

        await Task.Delay(50); // give a wrongly eager merge the chance to ask a again
        Assert.That(a.MoveNextCalls, Is.EqualTo(1), "the consumer holds a's item: a is not asked again yet");

        Assert.That(await merged.MoveNextAsync().AsTask().WaitAsync(Bound), Is.True);
        Assert.That(merged.Current, Is.EqualTo(2));
        Assert.That(a.MoveNextCalls, Is.EqualTo(2));
        Assert.That((a.MaxPending, b.MaxPending), Is.EqualTo((1, 1)), "never two steps pending for one source");
    }

    [Test]
    public async Task Breaking_out_of_a_merge_never_over_consumes_a_source()
    {
        // The Python library async-utils' _ensure_breaking_of_merged_gens_doesnt_overconsume, item by item.
        var gens = new[] { new CountingGenerator(100, 100), new CountingGenerator(200, 100), new CountingGenerator(300, 100) };
        var consumed = new int[3];
        await foreach (int value in AsyncMerge.Merge(gens[0].Run(), gens[1].Run(), gens[2].Run()))
        {
            consumed[value / 100 - 1]++;
            if (value == 250)
            {
                break;
            }
        }

        Assert.That(consumed, Is.EqualTo(new[] { 51, 51, 50 }));
        Assert.That(gens[1].Produced, Is.EqualTo(51), "the source of the last item consumed is not asked again");
        Assert.That(gens[0].Produced, Is.EqualTo(52), "one step in flight at most");
        Assert.That(gens[2].Produced, Is.EqualTo(51), "one step in flight at most");
        Assert.That(gens.All(g => g.FinallyRan), Is.True, "every source disposed");
    }

    [Test]
    public async Task Breaking_out_of_a_batch_merge_never_over_consumes_a_source()
    {
        // The Python library async-utils' _ensure_breaking_of_merged_gens_doesnt_overconsume, as written.
        var gens = new[] { new CountingGenerator(100, 100), new CountingGenerator(200, 100), new CountingGenerator(300, 100) };
        var consumed = new int[3];
        int batches = 0;
        await foreach (IReadOnlyList<int> batch in AsyncMerge.MergeBatches(gens[0].Run(), gens[1].Run(), gens[2].Run()))
        {
            Assert.That(batch, Is.EqualTo(new[] { 100 + batches, 200 + batches, 300 + batches }), "what is ready together comes together");
            batches++;
            bool shouldBreak = false;
            foreach (int value in batch)
            {
                consumed[value / 100 - 1]++;
                shouldBreak |= value == 250;
            }

            if (shouldBreak)
            {
                break;
            }
        }

        Assert.That(consumed, Is.EqualTo(new[] { 51, 51, 51 }));
        Assert.That(gens.Select(g => g.Produced), Is.EqualTo(consumed), "nothing produced that was not consumed");
        Assert.That(gens.All(g => g.FinallyRan), Is.True);
    }

    [Test]
    public async Task Throw_mode_delivers_what_arrived_first_then_throws_the_failure_itself_and_disposes_the_others()
    {
        var a = new ManualSource<int>("a");
        var b = new ManualSource<int>("b");
        var boom = new InvalidDataException("boom");
        IAsyncEnumerator<int> merged = AsyncMerge.Merge(a, b).GetAsyncEnumerator();
        Assert.That(await Next(merged, () => a.Yield(1)), Is.EqualTo(1));

        b.Fail(boom);
        var thrown = await Assert.ThrowsAsync<InvalidDataException>(async () => await merged.MoveNextAsync().AsTask().WaitAsync(Bound));
        Assert.That(thrown, Is.SameAs(boom));
        Assert.That(a.Token.IsCancellationRequested, Is.True, "the other sources' token is cancelled");
        Assert.That((a.DisposeCalls, b.DisposeCalls), Is.EqualTo((1, 1)));
        Assert.That(a.DisposedWhilePending, Is.False, "a's pending step finished before a was disposed");
        Assert.That(await merged.MoveNextAsync(), Is.False, "the merge is over");
        await merged.DisposeAsync();
        Assert.That(a.DisposeCalls, Is.EqualTo(1), "not disposed twice");
    }

    [Test]
    public async Task Throw_mode_adds_the_others_disposal_failures_after_the_failure()
    {
        var closing = new IOException("a cannot close");
        var a = new ManualSource<int>("a") { DisposeFailure = closing };
        var b = new ManualSource<int>("b");
        var boom = new ArgumentException("boom");
        await using IAsyncEnumerator<int> merged = AsyncMerge.Merge(a, b).GetAsyncEnumerator();
        Task<bool> next = merged.MoveNextAsync().AsTask();
        b.Fail(boom);

        var thrown = await Assert.ThrowsAsync<AggregateException>(async () => await next.WaitAsync(Bound));
        Assert.That(thrown!.InnerExceptions, Is.EqualTo(new Exception[] { boom, closing }));
    }

    [Test]
    public async Task Delay_mode_goes_on_to_the_end_then_throws_every_failure_together_in_order()
    {
        var e1 = new InvalidDataException("b failed");
        var e2 = new FormatException("c failed");
        var a = new ManualSource<int>("a");
        var b = new ManualSource<int>("b");
        var c = new ManualSource<int>("c");
        b.Fail(e1);
        c.Fail(e2);
        await using IAsyncEnumerator<int> merged = AsyncMerge.Merge([a, b, c], MergeErrorMode.Delay).GetAsyncEnumerator();

        Assert.That(await Next(merged, () => a.Yield(1)), Is.EqualTo(1));
        Assert.That(await Next(merged, () => a.Yield(2)), Is.EqualTo(2));
        Assert.That((b.DisposeCalls, c.DisposeCalls), Is.EqualTo((1, 1)), "a failed source is disposed at once");
        Task<bool> end = merged.MoveNextAsync().AsTask();
        a.End();
        var thrown = await Assert.ThrowsAsync<AggregateException>(async () => await end.WaitAsync(Bound));
        Assert.That(thrown!.InnerExceptions, Is.EqualTo(new Exception[] { e1, e2 }));
        Assert.That(a.DisposeCalls, Is.EqualTo(1));
    }

    [Test]
    public async Task Suppress_mode_drops_failures_and_disposal_failures()
    {
        var a = new ManualSource<int>("a");
        var b = new ManualSource<int>("b");
        var c = new ManualSource<int>("c") { DisposeFailure = new IOException("ignored") };
        b.Fail(new InvalidDataException("ignored"));
        c.Yield(7);
        c.End();
        a.Yield(1);
        a.Yield(2);
        a.End();

        List<int> items = await Collect(AsyncMerge.Merge([a, b, c], MergeErrorMode.Suppress));
        Assert.That(items, Is.EquivalentTo(new[] { 1, 2, 7 }));
        Assert.That((a.DisposeCalls, b.DisposeCalls, c.DisposeCalls), Is.EqualTo((1, 1, 1)));

        var d = new ManualSource<int>("d") { DisposeFailure = new IOException("ignored on break too") };
        d.Yield(1);
        await foreach (int item in AsyncMerge.Merge([d], MergeErrorMode.Suppress))
        {
            break;
        }

        Assert.That(d.DisposeCalls, Is.EqualTo(1));
    }

    [TestCase(MergeErrorMode.Throw)]
    [TestCase(MergeErrorMode.Delay)]
    [TestCase(MergeErrorMode.Suppress)]
    public async Task A_source_whose_GetAsyncEnumerator_throws_is_a_failed_source(MergeErrorMode mode)
    {
        var failure = new NotSupportedException("no enumerator");
        var broken = new ManualSource<int>("broken") { GetEnumeratorFailure = failure };
        var good = new ManualSource<int>("good");
        good.Yield(1);
        good.End();

        await AssertOutcome(AsyncMerge.Merge([broken, good], mode), mode, failure, expectedItems: [1]);
        Assert.That(good.DisposeCalls, Is.EqualTo(1));
    }

    [TestCase(MergeErrorMode.Throw)]
    [TestCase(MergeErrorMode.Delay)]
    [TestCase(MergeErrorMode.Suppress)]
    public async Task A_source_whose_MoveNextAsync_throws_instead_of_returning_is_a_failed_source(MergeErrorMode mode)
    {
        var failure = new InvalidOperationException("sync throw");
        var broken = new ThrowsOnMoveNext(failure);
        var good = new ManualSource<int>("good");
        good.Yield(1);
        good.End();

        await AssertOutcome(AsyncMerge.Merge([broken, good], mode), mode, failure, expectedItems: [1]);
        Assert.That(broken.Disposed, Is.True);
        Assert.That(good.DisposeCalls, Is.EqualTo(1));
    }

    [TestCase(MergeErrorMode.Throw)]
    [TestCase(MergeErrorMode.Delay)]
    [TestCase(MergeErrorMode.Suppress)]
    public async Task A_source_whose_DisposeAsync_throws_at_its_end_is_a_failed_source(MergeErrorMode mode)
    {
        var failure = new IOException("cannot close");
        var broken = new ManualSource<int>("broken") { DisposeFailure = failure };
        broken.End();
        var good = new ManualSource<int>("good");
        good.Yield(1);
        good.End();

        await AssertOutcome(AsyncMerge.Merge([broken, good], mode), mode, failure, expectedItems: [1]);
        Assert.That((broken.DisposeCalls, good.DisposeCalls), Is.EqualTo((1, 1)));
    }

    [Test]
    public async Task Empty_sources_make_an_empty_merge_and_are_disposed()
    {
        var a = new ManualSource<int>("a");
        var b = new ManualSource<int>("b");
        a.End();
        b.End();
        Assert.That(await Collect(AsyncMerge.Merge(a, b)), Is.Empty);
        Assert.That((a.DisposeCalls, b.DisposeCalls), Is.EqualTo((1, 1)));

        var empty = new CountingGenerator(0, 0);
        Assert.That(await Collect(AsyncMerge.MergeBatches(empty.Run(), empty.Run())), Is.Empty);
    }

    [Test]
    public async Task No_sources_make_an_empty_merge()
    {
        Assert.That(await Collect(AsyncMerge.Merge<int>()), Is.Empty);
        Assert.That(await Collect(AsyncMerge.MergeBatches<int>()), Is.Empty);
        Assert.That(await Collect(AsyncMerge.Merge(Array.Empty<IAsyncEnumerable<int>>(), MergeErrorMode.Delay)), Is.Empty);
    }

    [Test]
    public async Task Breaking_out_disposes_every_source_once_its_step_in_flight_finished()
    {
        var a = new ManualSource<int>("a");
        var b = new ManualSource<int>("b");
        a.Yield(1);
        await foreach (int item in AsyncMerge.Merge(a, b))
        {
            Assert.That(b.IsPending, Is.True);
            break;
        }

        Assert.That(b.Token.IsCancellationRequested, Is.True, "b's step in flight was cancelled");
        Assert.That((a.DisposeCalls, b.DisposeCalls), Is.EqualTo((1, 1)));
        Assert.That(b.DisposedWhilePending, Is.False);
        Assert.That(a.MoveNextCalls, Is.EqualTo(1), "a is not asked again after the consumer left");
    }

    [Test]
    public async Task Leaving_through_an_exception_in_the_loop_body_disposes_every_source()
    {
        var gens = new[] { new CountingGenerator(0, 10), new CountingGenerator(10, 10) };
        await Assert.ThrowsAsync<TimeoutException>(async () =>
        {
            await foreach (int item in AsyncMerge.Merge(gens[0].Run(), gens[1].Run()))
            {
                throw new TimeoutException("consumer gave up");
            }
        });

        Assert.That(gens.All(g => g.FinallyRan), Is.True);
        Assert.That(gens.Select(g => g.Produced), Is.EqualTo(new[] { 1, 1 }));
    }

    [Test]
    public async Task Disposal_failures_on_early_exit_are_thrown_together_by_DisposeAsync()
    {
        var e1 = new IOException("a cannot close");
        var e2 = new InvalidDataException("b cannot close");
        var a = new ManualSource<int>("a") { DisposeFailure = e1 };
        var b = new ManualSource<int>("b") { DisposeFailure = e2 };
        var c = new ManualSource<int>("c");
        a.Yield(1);
        IAsyncEnumerator<int> merged = AsyncMerge.Merge(a, b, c).GetAsyncEnumerator();
        Assert.That(await merged.MoveNextAsync(), Is.True);

        var thrown = await Assert.ThrowsAsync<AggregateException>(async () => await merged.DisposeAsync());
        Assert.That(thrown!.InnerExceptions, Is.EqualTo(new Exception[] { e1, e2 }));
        Assert.That(c.DisposeCalls, Is.EqualTo(1), "every source disposed even when some fail");
    }

    [Test]
    public async Task Disposing_before_the_first_MoveNextAsync_touches_no_source()
    {
        var a = new ManualSource<int>("a");
        IAsyncEnumerator<int> merged = AsyncMerge.Merge(a).GetAsyncEnumerator();
        await merged.DisposeAsync();
        Assert.That(await merged.MoveNextAsync(), Is.False);
        Assert.That(a.Enumerations, Is.Zero);
    }

    [TestCase(MergeErrorMode.Throw)]
    [TestCase(MergeErrorMode.Delay)]
    [TestCase(MergeErrorMode.Suppress)]
    public async Task Cancelling_the_consumer_token_ends_a_waiting_MoveNextAsync_and_disposes_every_source(MergeErrorMode mode)
    {
        using var cts = new CancellationTokenSource();
        var a = new ManualSource<int>("a");
        var b = new ManualSource<int>("b");
        await using IAsyncEnumerator<int> merged = AsyncMerge.Merge([a, b], mode).GetAsyncEnumerator(cts.Token);
        Task<bool> waiting = merged.MoveNextAsync().AsTask();
        Assert.That(a.Token.CanBeCanceled && !a.Token.IsCancellationRequested, Is.True);

        cts.Cancel();
        var thrown = await Assert.ThrowsAsync<OperationCanceledException>(async () => await waiting.WaitAsync(Bound));
        Assert.That(thrown!.CancellationToken, Is.EqualTo(cts.Token), "cancellation is not a source failure, whatever the mode");
        Assert.That(a.Token.IsCancellationRequested && b.Token.IsCancellationRequested, Is.True, "the token reached every source");
        Assert.That((a.DisposeCalls, b.DisposeCalls), Is.EqualTo((1, 1)));
        Assert.That(a.DisposedWhilePending || b.DisposedWhilePending, Is.False);
    }

    [Test]
    public async Task A_token_cancelled_between_items_is_seen_at_the_next_MoveNextAsync()
    {
        using var cts = new CancellationTokenSource();
        var gens = new[] { new CountingGenerator(0, 100), new CountingGenerator(100, 100) };
        int seen = 0;
        await Assert.ThrowsAsync<OperationCanceledException>(async () =>
        {
            await foreach (int item in AsyncMerge.Merge(gens[0].Run(), gens[1].Run()).WithCancellation(cts.Token))
            {
                if (++seen == 3)
                {
                    cts.Cancel();
                }
            }
        });

        Assert.That(seen, Is.EqualTo(3));
        Assert.That(gens.All(g => g.FinallyRan), Is.True);
    }

    [Test]
    public async Task Enumerations_on_a_long_lived_token_leave_nothing_registered_on_it()
    {
        using var lifetime = new CancellationTokenSource();
        var enumerators = new List<MergeCore<int>>();
        var sources = new List<ManualSource<int>>();
        for (int i = 0; i < 200; i++)
        {
            var a = new ManualSource<int>("a");
            var b = new ManualSource<int>("b");
            a.Yield(1);
            a.End();
            b.End();
            if (i % 4 < 2)
            {
                sources.Add(a); // read to the end: the merge never cancels their token itself
            }

            IAsyncEnumerator<int> merged = (i % 2 == 0 ? AsyncMerge.Merge(a, b) : AsyncMerge.Merge(a, new SyncRange(0, 100))).GetAsyncEnumerator(lifetime.Token);
            enumerators.Add((MergeCore<int>)merged);
            Assert.That(await merged.MoveNextAsync().AsTask().WaitAsync(Bound), Is.True);
            if (i % 4 < 2)
            {
                while (await merged.MoveNextAsync().AsTask().WaitAsync(Bound))
                {
                }
            }

            await merged.DisposeAsync(); // after the end, or leaving early
        }

        lifetime.Cancel();
        Assert.That(enumerators.Sum(e => e.CancellationCallbacks), Is.Zero, "a registration outlived its enumeration");
        Assert.That(sources.Count(s => s.Token.IsCancellationRequested), Is.Zero, "the sources' token is no longer linked to the consumer's");
    }

    [Test]
    public async Task An_already_cancelled_token_throws_at_the_first_MoveNextAsync_without_touching_the_sources()
    {
        var a = new ManualSource<int>("a");
        await using IAsyncEnumerator<int> merged = AsyncMerge.Merge(a).GetAsyncEnumerator(new CancellationToken(canceled: true));
        await Assert.ThrowsAsync<OperationCanceledException>(async () => await merged.MoveNextAsync());
        Assert.That(a.Enumerations, Is.Zero);
    }

    [Test]
    public async Task A_source_ignoring_its_token_is_waited_for_before_it_is_disposed()
    {
        var a = new ManualSource<int>("a");
        var stubborn = new ManualSource<int>("stubborn") { HonoursCancellation = false };
        a.Yield(1);
        IAsyncEnumerator<int> merged = AsyncMerge.Merge(a, stubborn).GetAsyncEnumerator();
        Assert.That(await merged.MoveNextAsync(), Is.True);

        Task disposing = merged.DisposeAsync().AsTask();
        await Task.Delay(50);
        Assert.That(disposing.IsCompleted, Is.False, "the stubborn source's step is still in flight");
        Assert.That(stubborn.DisposeCalls, Is.Zero);

        stubborn.Yield(99); // its outcome is dropped
        await disposing.WaitAsync(Bound);
        Assert.That(stubborn.DisposeCalls, Is.EqualTo(1));
        Assert.That(stubborn.DisposedWhilePending, Is.False);
    }

    [Test]
    public async Task The_merged_sequence_can_be_enumerated_again()
    {
        var gens = new[] { new CountingGenerator(0, 3), new CountingGenerator(10, 3) };
        IAsyncEnumerable<int> merged = AsyncMerge.Merge(gens[0].Run(), gens[1].Run());
        List<int> first = await Collect(merged);
        List<int> second = await Collect(merged);
        Assert.That(second, Is.EqualTo(first));
        Assert.That(first, Has.Count.EqualTo(6));
    }

    [Test]
    public async Task Calling_MoveNextAsync_before_the_previous_call_completed_throws()
    {
        var a = new ManualSource<int>("a");
        IAsyncEnumerator<int> merged = AsyncMerge.Merge(a).GetAsyncEnumerator();
        Task<bool> pending = merged.MoveNextAsync().AsTask();
        Assert.Throws<InvalidOperationException>(() => merged.MoveNextAsync().AsTask());
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await merged.DisposeAsync());

        a.Yield(1);
        Assert.That(await pending.WaitAsync(Bound), Is.True, "the merge is still usable");
        await merged.DisposeAsync();
        Assert.That(a.DisposeCalls, Is.EqualTo(1));
    }

    [Test]
    public void Bad_arguments_throw_naming_the_argument()
    {
        IAsyncEnumerable<int> ok = new SyncRange(0, 1);
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Assert.Throws<ArgumentNullException>(() => AsyncMerge.Merge((IAsyncEnumerable<int>[])null!))!.ParamName, Is.EqualTo("sources"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => AsyncMerge.Merge((IEnumerable<IAsyncEnumerable<int>>)null!))!.ParamName, Is.EqualTo("sources"));
            Assert.That(Assert.Throws<ArgumentException>(() => AsyncMerge.Merge(ok, null!))!.ParamName, Is.EqualTo("sources"));
            Assert.That(Assert.Throws<ArgumentException>(() => AsyncMerge.MergeBatches(ok, null!))!.ParamName, Is.EqualTo("sources"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => AsyncMerge.MergeBatches((IAsyncEnumerable<int>[])null!))!.ParamName, Is.EqualTo("sources"));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => AsyncMerge.Merge([ok], (MergeErrorMode)3))!.ParamName, Is.EqualTo("errorMode"));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => AsyncMerge.MergeBatches([ok], (MergeErrorMode)(-1)))!.ParamName, Is.EqualTo("errorMode"));
        }
    }

    [Test]
    public async Task The_sources_array_is_copied()
    {
        var sources = new IAsyncEnumerable<int>[] { new SyncRange(0, 2) };
        IAsyncEnumerable<int> merged = AsyncMerge.Merge(sources);
        sources[0] = new SyncRange(100, 2);
        Assert.That(await Collect(merged), Is.EqualTo(new[] { 0, 1 }));
    }

    [Test]
    public async Task Many_sources_deliver_every_item_once_in_each_source_order()
    {
        const int Sources = 1000;
        const int Each = 10;
        List<int> items = await Collect(AsyncMerge.Merge(Enumerable.Range(0, Sources).Select(i => (IAsyncEnumerable<int>)new SyncRange(i * Each, Each))));
        Assert.That(items, Has.Count.EqualTo(Sources * Each));
        Assert.That(items.Order(), Is.EqualTo(Enumerable.Range(0, Sources * Each)));
        var last = new int[Sources];
        Array.Fill(last, -1);
        foreach (int item in items)
        {
            Assert.That(item, Is.GreaterThan(last[item / Each]), "each source's own order is kept");
            last[item / Each] = item;
        }
    }

    [Test]
    public async Task Merging_sources_that_are_always_ready_allocates_nothing_per_item()
    {
        await Consume(4, 100); // warm up: JIT, pools
        long small = await Consume(4, 100);
        long large = await Consume(4, 20_000);
        Assert.That(large - small, Is.LessThan(1024), $"{small} B for 400 items, {large} B for 80,000");

        static async Task<long> Consume(int sources, int each)
        {
            IAsyncEnumerable<int> merged = AsyncMerge.Merge(Enumerable.Range(0, sources).Select(i => (IAsyncEnumerable<int>)new SyncRange(0, each)).ToArray());
            long before = GC.GetAllocatedBytesForCurrentThread();
            long sum = 0;
            await foreach (int item in merged)
            {
                sum += item;
            }

            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.That(sum, Is.EqualTo((long)sources * each * (each - 1) / 2));
            return allocated;
        }
    }

    internal static async Task<List<T>> Collect<T>(IAsyncEnumerable<T> sequence)
    {
        var items = new List<T>();
        await foreach (T item in sequence.WithCancellation(CancellationToken.None))
        {
            items.Add(item);
        }

        return items;
    }

    private static async Task<int> Next(IAsyncEnumerator<int> merged, Action produce)
    {
        Task<bool> next = merged.MoveNextAsync().AsTask();
        produce();
        Assert.That(await next.WaitAsync(Bound), Is.True);
        return merged.Current;
    }

    private static async Task AssertOutcome(IAsyncEnumerable<int> merged, MergeErrorMode mode, Exception failure, int[] expectedItems)
    {
        var items = new List<int>();
        Exception? thrown = null;
        try
        {
            await foreach (int item in merged)
            {
                items.Add(item);
            }
        }
        catch (Exception ex)
        {
            thrown = ex;
        }

        switch (mode)
        {
            case MergeErrorMode.Throw:
                Assert.That(thrown, Is.SameAs(failure));
                break;
            case MergeErrorMode.Delay:
                Assert.That(items, Is.EqualTo(expectedItems), "the others went on to their end");
                Assert.That(thrown, Is.TypeOf<AggregateException>());
                Assert.That(((AggregateException)thrown!).InnerExceptions, Is.EqualTo(new[] { failure }));
                break;
            default:
                Assert.That(items, Is.EqualTo(expectedItems));
                Assert.That(thrown, Is.Null);
                break;
        }
    }
}
