using CsCheck;

namespace AsyncUtils.Tests;

public sealed class ThreadedAsyncEnumerableTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private static ThreadedAsyncEnumerableOptions Prefetch(int n) => new() { Prefetch = n };

    [Test]
    public async Task Nothing_runs_before_the_first_MoveNextAsync_and_an_unused_enumerator_never_calls_the_factory()
    {
        int calls = 0;
        var sequence = ThreadedAsyncEnumerable.Create(_ =>
        {
            Interlocked.Increment(ref calls);
            return new[] { 1 };
        });

        IAsyncEnumerator<int> enumerator = sequence.GetAsyncEnumerator();
        Assert.That(Volatile.Read(ref calls), Is.Zero);
        await enumerator.DisposeAsync();
        Assert.That(Volatile.Read(ref calls), Is.Zero);
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(4)]
    public async Task Source_steps_never_exceed_the_consumers_requests_plus_the_prefetch(int prefetch)
    {
        var source = new CountingSource(200, prefetch);
        var received = new List<int>();
        await using (IAsyncEnumerator<int> e = ThreadedAsyncEnumerable.Create(source.Run, Prefetch(prefetch)).GetAsyncEnumerator())
        {
            while (true)
            {
                source.Request();
                if (!await e.MoveNextAsync().AsTask().WaitAsync(Bound))
                {
                    break;
                }

                received.Add(e.Current);
                if (prefetch == 0)
                {
                    // Lazy: having received item k, the source has been asked for exactly k items.
                    Assert.That(source.Steps, Is.EqualTo(received.Count));
                }
            }
        }

        Assert.That(source.Violations, Is.Empty);
        Assert.That(received, Is.EqualTo(Enumerable.Range(0, 200)));
        Assert.That(source.FinallyRan, Is.True);
    }

    [Test]
    public async Task With_a_prefetch_of_N_the_source_fills_N_items_ahead_and_they_are_returned_without_waiting()
    {
        const int n = 8;
        var source = new CountingSource(100, n);
        await using IAsyncEnumerator<int> e = ThreadedAsyncEnumerable.Create(source.Run, Prefetch(n)).GetAsyncEnumerator();

        source.Request();
        Assert.That(await e.MoveNextAsync().AsTask().WaitAsync(Bound), Is.True);
        Assert.That(e.Current, Is.Zero);

        // The source may now run N items ahead; wait (bounded) until it has.
        var deadline = DateTime.UtcNow + Bound;
        while (source.Steps < 1 + n && DateTime.UtcNow < deadline)
        {
            await Task.Yield();
        }

        Assert.That(source.Steps, Is.EqualTo(1 + n));
        for (int i = 1; i <= n; i++)
        {
            source.Request();
            ValueTask<bool> next = e.MoveNextAsync();
            Assert.That(next.IsCompletedSuccessfully, Is.True, $"item {i} was buffered");
            Assert.That(await next, Is.True);
            Assert.That(e.Current, Is.EqualTo(i));
        }

        Assert.That(source.Violations, Is.Empty);
    }

    [Test]
    public void Every_prefix_arrives_in_order_and_leaving_early_always_runs_the_sources_finally()
    {
        Gen.Select(Gen.Int[0, 60], Gen.Int[0, 6], Gen.Int[0, 70]).Sample((length, prefetch, takeCount) =>
        {
            var source = new CountingSource(length, prefetch);
            var taken = new List<int>();
            Task.Run(async () =>
            {
                await using IAsyncEnumerator<int> e = ThreadedAsyncEnumerable.Create(source.Run, Prefetch(prefetch)).GetAsyncEnumerator();
                while (taken.Count < takeCount)
                {
                    source.Request();
                    if (!await e.MoveNextAsync())
                    {
                        break;
                    }

                    taken.Add(e.Current);
                }
            }).WaitAsync(Bound).GetAwaiter().GetResult();

            Assert.That(taken, Is.EqualTo(Enumerable.Range(0, Math.Min(length, takeCount))));
            Assert.That(source.Violations, Is.Empty);
            // With nothing asked for, the source never starts; otherwise its finally ran before DisposeAsync returned.
            Assert.That(source.FinallyRan, Is.EqualTo(takeCount > 0));
            Assert.That(source.Steps, Is.LessThanOrEqualTo(taken.Count + 1 + prefetch));
        }, iter: 60);
    }

    [TestCase(0)]
    [TestCase(3)]
    [TestCase(64)]
    public async Task A_source_exception_arrives_after_every_item_produced_before_it(int prefetch)
    {
        using var thrown = new ManualResetEventSlim();
        IEnumerable<int> Source()
        {
            yield return 1;
            yield return 2;
            yield return 3;
            thrown.Set();
            throw new InvalidDataException("source failed after 3");
        }

        await using IAsyncEnumerator<int> e = ThreadedAsyncEnumerable.Create(Source(), Prefetch(prefetch)).GetAsyncEnumerator();
        Assert.That(await e.MoveNextAsync().AsTask().WaitAsync(Bound), Is.True);
        if (prefetch >= 3)
        {
            // The source may run 3 items ahead: let it run into its exception before the consumer
            // reads the buffered items.
            Assert.That(thrown.Wait(Bound), Is.True);
        }

        var received = new List<int> { e.Current };
        var ex = await Assert.ThrowsAsync<InvalidDataException>(async () =>
        {
            while (await e.MoveNextAsync().AsTask().WaitAsync(Bound))
            {
                received.Add(e.Current);
            }
        });
        Assert.That(ex!.Message, Is.EqualTo("source failed after 3"));
        Assert.That(received, Is.EqualTo(new[] { 1, 2, 3 }));
    }

    [Test]
    public async Task A_factory_exception_reaches_the_consumer_at_the_first_MoveNextAsync()
    {
        var sequence = ThreadedAsyncEnumerable.Create<int>(_ => throw new InvalidOperationException("no source"));
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await foreach (int _ in sequence)
            {
                Assert.Fail("no item expected");
            }
        });
        Assert.That(ex!.Message, Is.EqualTo("no source"));
    }

    [Test]
    public async Task Break_cancels_the_token_and_runs_finally_on_the_source_thread_before_disposal_returns()
    {
        var source = new CountingSource(1_000, 0);
        var consumerThreads = new HashSet<int>();
        await foreach (int item in ThreadedAsyncEnumerable.Create(source.Run).WithCancellation(CancellationToken.None))
        {
            consumerThreads.Add(Environment.CurrentManagedThreadId);
            if (item == 2)
            {
                break;
            }
        }

        Assert.That(source.FinallyRan, Is.True);
        Assert.That(source.TokenWasCancelledInFinally, Is.True);
        Assert.That(source.Steps, Is.EqualTo(3));
        Assert.That(consumerThreads, Does.Not.Contain(source.SourceThreadId), "consumer code never runs on the source thread");
    }

    [Test]
    public async Task An_exception_in_the_loop_body_runs_the_sources_finally_before_it_reaches_the_caller()
    {
        var source = new CountingSource(1_000, 4);
        bool finallyRanWhenCaught = false;
        await Assert.ThrowsAsync<TimeoutException>(async () =>
        {
            try
            {
                await foreach (int item in ThreadedAsyncEnumerable.Create(source.Run, Prefetch(4)))
                {
                    if (item == 5)
                    {
                        throw new TimeoutException("consumer gave up");
                    }
                }
            }
            catch (TimeoutException)
            {
                finallyRanWhenCaught = source.FinallyRan;
                throw;
            }
        });
        Assert.That(finallyRanWhenCaught, Is.True);
        Assert.That(source.TokenWasCancelledInFinally, Is.True);
    }

    [Test]
    public async Task ForEachAsync_makes_the_consumers_exception_visible_to_the_sources_cleanup_and_rethrows_it()
    {
        Exception? seenInFinally = null;
        Exception? seenByTokenCallback = null;
        IEnumerable<int> Source(ThreadedSourceContext context)
        {
            using CancellationTokenRegistration registration =
                context.CancellationToken.Register(() => seenByTokenCallback = context.ConsumerException);
            try
            {
                for (int i = 0; ; i++)
                {
                    yield return i;
                }
            }
            finally
            {
                seenInFinally = context.ConsumerException;
            }
        }

        var thrown = new FormatException("bad item");
        var ex = await Assert.ThrowsAsync<FormatException>(() => ThreadedAsyncEnumerable.CreateWithContext(Source).ForEachAsync((item, _) =>
            item == 3 ? throw thrown : ValueTask.CompletedTask).WaitAsync(Bound));

        Assert.That(ex, Is.SameAs(thrown));
        Assert.That(seenInFinally, Is.SameAs(thrown));
        Assert.That(seenByTokenCallback, Is.SameAs(thrown));
    }

    [Test]
    public async Task ForEachAsync_visits_every_item_and_leaves_the_context_clean_when_the_source_ends()
    {
        Exception? seenInFinally = new InvalidOperationException("not yet run");
        bool cancelledInFinally = true;
        IEnumerable<int> Source(ThreadedSourceContext context)
        {
            try
            {
                yield return 1;
                yield return 2;
            }
            finally
            {
                seenInFinally = context.ConsumerException;
                cancelledInFinally = context.CancellationToken.IsCancellationRequested;
            }
        }

        var items = new List<int>();
        await ThreadedAsyncEnumerable.CreateWithContext(Source, Prefetch(2)).ForEachAsync((item, _) =>
        {
            items.Add(item);
            return ValueTask.CompletedTask;
        }).WaitAsync(Bound);

        Assert.That(items, Is.EqualTo(new[] { 1, 2 }));
        Assert.That(seenInFinally, Is.Null);
        Assert.That(cancelledInFinally, Is.False, "a source that runs to its end is not cancelled");
    }

    [Test]
    public async Task ForEachAsync_reports_both_the_consumers_exception_and_a_failing_cleanup()
    {
        IEnumerable<int> Source()
        {
            try
            {
                yield return 1;
                yield return 2;
            }
            finally
            {
#pragma warning disable CA2219 // the test needs a cleanup that fails
                throw new IOException("cleanup failed");
#pragma warning restore CA2219
            }
        }

        var ex = await Assert.ThrowsAsync<AggregateException>(() => ThreadedAsyncEnumerable.Create(Source()).ForEachAsync((_, _) =>
            throw new FormatException("consumer failed")).WaitAsync(Bound));
        Assert.That(ex!.InnerExceptions.Select(e => e.GetType()), Is.EqualTo(new[] { typeof(FormatException), typeof(IOException) }));
    }

    [Test]
    public async Task A_failing_cleanup_after_an_early_exit_surfaces_from_DisposeAsync()
    {
        IEnumerable<int> Source()
        {
            try
            {
                yield return 1;
                yield return 2;
            }
            finally
            {
#pragma warning disable CA2219 // the test needs a cleanup that fails
                throw new IOException("cleanup failed");
#pragma warning restore CA2219
            }
        }

        IAsyncEnumerator<int> e = ThreadedAsyncEnumerable.Create(Source()).GetAsyncEnumerator();
        Assert.That(await e.MoveNextAsync().AsTask().WaitAsync(Bound), Is.True);
        var ex = await Assert.ThrowsAsync<IOException>(async () => await e.DisposeAsync());
        Assert.That(ex!.Message, Is.EqualTo("cleanup failed"));
        await Assert.DoesNotThrowAsync(async () => await e.DisposeAsync(), "a second disposal is a no-op");
    }

    [Test]
    public async Task Cancelling_the_consumers_token_ends_a_waiting_MoveNextAsync_and_stops_a_blocked_source()
    {
        using var cts = new CancellationTokenSource();
        using var blocked = new ManualResetEventSlim();
        bool finallyRan = false;
        IEnumerable<int> Source(CancellationToken token)
        {
            try
            {
                yield return 1;
                blocked.Set();
                token.WaitHandle.WaitOne(); // a source blocked in a call that honours the token
                token.ThrowIfCancellationRequested();
                yield return 2;
            }
            finally
            {
                finallyRan = true;
            }
        }

        IAsyncEnumerator<int> e = ThreadedAsyncEnumerable.Create(Source).GetAsyncEnumerator(cts.Token);
        Assert.That(await e.MoveNextAsync().AsTask().WaitAsync(Bound), Is.True);
        Task<bool> waiting = e.MoveNextAsync().AsTask();
        Assert.That(blocked.Wait(Bound), Is.True);
        Assert.That(waiting.IsCompleted, Is.False);

        await cts.CancelAsync();
        var ex = await Assert.ThrowsAsync<OperationCanceledException>(() => waiting.WaitAsync(Bound));
        Assert.That(ex!.CancellationToken, Is.EqualTo(cts.Token));
        await Assert.CatchAsync<OperationCanceledException>(async () => await e.MoveNextAsync(), "later calls fail too");

        // The source's own OperationCanceledException, thrown while it stopped, is not an error.
        await e.DisposeAsync().AsTask().WaitAsync(Bound);
        Assert.That(finallyRan, Is.True);
    }

    [Test]
    public async Task A_token_cancelled_before_the_first_MoveNextAsync_never_starts_the_source()
    {
        int calls = 0;
        var sequence = ThreadedAsyncEnumerable.Create(_ =>
        {
            Interlocked.Increment(ref calls);
            return new[] { 1 };
        });

        await Assert.CatchAsync<OperationCanceledException>(async () =>
        {
            await foreach (int _ in sequence.WithCancellation(new CancellationToken(canceled: true)))
            {
                Assert.Fail("no item expected");
            }
        });
        Assert.That(Volatile.Read(ref calls), Is.Zero);
    }

    [Test]
    public async Task Disposing_while_the_source_is_blocked_waits_for_it_and_then_runs_its_finally()
    {
        using var blocked = new ManualResetEventSlim();
        bool finallyRan = false;
        IEnumerable<int> Source(CancellationToken token)
        {
            try
            {
                yield return 1;
                blocked.Set();
                token.WaitHandle.WaitOne();
                yield return 2;
            }
            finally
            {
                finallyRan = true;
            }
        }

        IAsyncEnumerator<int> e = ThreadedAsyncEnumerable.Create(Source, Prefetch(1)).GetAsyncEnumerator();
        Assert.That(await e.MoveNextAsync().AsTask().WaitAsync(Bound), Is.True);
        Assert.That(blocked.Wait(Bound), Is.True);
        await e.DisposeAsync().AsTask().WaitAsync(Bound);
        Assert.That(finallyRan, Is.True);
    }

    [Test]
    public async Task The_source_runs_on_a_dedicated_background_thread_not_the_thread_pool()
    {
        bool? poolThread = null;
        bool? background = null;
        IEnumerable<int> Source()
        {
            poolThread = Thread.CurrentThread.IsThreadPoolThread;
            background = Thread.CurrentThread.IsBackground;
            yield return 1;
        }

        await foreach (int _ in ThreadedAsyncEnumerable.Create(Source()))
        {
        }

        Assert.That(poolThread, Is.False);
        Assert.That(background, Is.True);
    }

    [Test]
    public async Task Many_blocked_sources_do_not_starve_the_thread_pool()
    {
        // 48 sources block at once. Were they on pool threads, a 2-core pool would need many
        // seconds of thread injection before an unrelated work item could run.
        const int sources = 48;
        using var release = new ManualResetEventSlim();
        using var allBlocked = new CountdownEvent(sources);
        IEnumerable<int> Source()
        {
            allBlocked.Signal();
            release.Wait();
            yield return 1;
        }

        var enumerators = Enumerable.Range(0, sources).Select(_ => ThreadedAsyncEnumerable.Create(Source()).GetAsyncEnumerator()).ToList();
        var first = enumerators.Select(e => e.MoveNextAsync().AsTask()).ToList();
        try
        {
            Assert.That(allBlocked.Wait(Bound), Is.True);
            int answer = await Task.Run(() => 42).WaitAsync(TimeSpan.FromSeconds(5));
            Assert.That(answer, Is.EqualTo(42));
        }
        finally
        {
            release.Set();
        }

        Assert.That(await Task.WhenAll(first).WaitAsync(Bound), Is.All.True);
        foreach (IAsyncEnumerator<int> e in enumerators)
        {
            await e.DisposeAsync().AsTask().WaitAsync(Bound);
        }
    }

    [Test]
    public async Task Each_enumeration_runs_the_source_afresh_on_its_own_thread()
    {
        var threads = new List<int>();
        IEnumerable<int> Source(CancellationToken _)
        {
            lock (threads)
            {
                threads.Add(Environment.CurrentManagedThreadId);
            }

            yield return 1;
            yield return 2;
        }

        var sequence = ThreadedAsyncEnumerable.Create(Source);
        var first = new List<int>();
        var second = new List<int>();
        await foreach (int i in sequence)
        {
            first.Add(i);
        }

        await foreach (int i in sequence)
        {
            second.Add(i);
        }

        Assert.That(first, Is.EqualTo(new[] { 1, 2 }));
        Assert.That(second, Is.EqualTo(new[] { 1, 2 }));
        Assert.That(threads, Has.Count.EqualTo(2));
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task AsyncLocal_values_reach_the_source_only_when_the_execution_context_flows(bool flow)
    {
        var ambient = new AsyncLocal<string>();
        string? seen = "unset";
        IEnumerable<int> Source()
        {
            seen = ambient.Value;
            yield return 1;
        }

        ambient.Value = "request-7";
        await foreach (int _ in ThreadedAsyncEnumerable.Create(Source(), new ThreadedAsyncEnumerableOptions { FlowExecutionContext = flow }))
        {
        }

        Assert.That(seen, flow ? Is.EqualTo("request-7") : Is.Null);
    }

    [Test]
    public async Task A_second_MoveNextAsync_while_one_is_pending_is_rejected()
    {
        using var release = new ManualResetEventSlim();
        IEnumerable<int> Source()
        {
            release.Wait();
            yield return 1;
        }

        IAsyncEnumerator<int> e = ThreadedAsyncEnumerable.Create(Source()).GetAsyncEnumerator();
        Task<bool> pending = e.MoveNextAsync().AsTask();
        Assert.Throws<InvalidOperationException>(() => e.MoveNextAsync().AsTask());
        release.Set();
        Assert.That(await pending.WaitAsync(Bound), Is.True);
        await e.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => e.MoveNextAsync().AsTask());
    }

    [Test]
    public async Task After_the_end_MoveNextAsync_keeps_returning_false()
    {
        await using IAsyncEnumerator<int> e = ThreadedAsyncEnumerable.Create(new[] { 1 }).GetAsyncEnumerator();
        Assert.That(await e.MoveNextAsync(), Is.True);
        Assert.That(await e.MoveNextAsync(), Is.False);
        Assert.That(await e.MoveNextAsync(), Is.False);
    }

    [Test]
    public async Task A_factory_that_returns_null_is_reported_as_a_clear_error()
    {
        var sequence = ThreadedAsyncEnumerable.Create<int>(_ => null!);
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await foreach (int _ in sequence)
            {
            }
        });
        Assert.That(ex!.Message, Does.Contain("returned null"));
    }

    [Test]
    public void Bad_arguments_are_rejected_naming_them()
    {
        using (Assert.EnterMultipleScope())
        {
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => _ = new ThreadedAsyncEnumerableOptions { Prefetch = -1 })!.ParamName, Is.EqualTo("Prefetch"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => ThreadedAsyncEnumerable.Create((IEnumerable<int>)null!))!.ParamName, Is.EqualTo("source"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => ThreadedAsyncEnumerable.Create((Func<CancellationToken, IEnumerable<int>>)null!))!.ParamName, Is.EqualTo("sourceFactory"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => ThreadedAsyncEnumerable.CreateWithContext((Func<ThreadedSourceContext, IEnumerable<int>>)null!))!.ParamName, Is.EqualTo("sourceFactory"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => ThreadedAsyncEnumerable.Create(new[] { 1 }).ForEachAsync(null!))!.ParamName, Is.EqualTo("body"));
        }
    }

    [Test]
    public void Options_are_copied_when_the_sequence_is_created()
    {
        var options = new ThreadedAsyncEnumerableOptions { Prefetch = 3 };
        var sequence = ThreadedAsyncEnumerable.Create(new[] { 1 }, options);
        options.Prefetch = 9;
        Assert.That(sequence.Prefetch, Is.EqualTo(3));
    }
}
