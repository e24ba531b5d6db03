namespace AsyncUtils.Tests;

public sealed class ThreadedEnumerationScopeTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    /// <summary>A source that records what its cleanup saw.</summary>
    private sealed class ObservedSource
    {
        public Exception? SeenInFinally { get; private set; }

        public Exception? SeenByTokenCallback { get; private set; }

        public bool FinallyRan { get; private set; }

        public bool CancelledInFinally { get; private set; }

        public int? SourceThreadId { get; private set; }

        public int? FinallyThreadId { get; private set; }

        public IEnumerable<int> Run(ThreadedSourceContext context, int length)
        {
            SourceThreadId = Environment.CurrentManagedThreadId;
            using CancellationTokenRegistration registration =
                context.CancellationToken.Register(() => SeenByTokenCallback = context.ConsumerException);
            try
            {
                for (int i = 0; i < length; i++)
                {
                    yield return i;
                }
            }
            finally
            {
                SeenInFinally = context.ConsumerException;
                CancelledInFinally = context.CancellationToken.IsCancellationRequested;
                FinallyThreadId = Environment.CurrentManagedThreadId;
                FinallyRan = true;
            }
        }

        public ThreadedAsyncEnumerable<int> Sequence(int length = int.MaxValue) =>
            ThreadedAsyncEnumerable.CreateWithContext(context => Run(context, length));
    }

    [Test]
    public async Task A_forwarded_exception_reaches_the_sources_cleanup_when_the_scope_is_disposed_and_propagates_unchanged()
    {
        var source = new ObservedSource();
        var thrown = new FormatException("bad item");
        bool finallyRanWhenCaught = false;

        var ex = await Assert.ThrowsAsync<FormatException>(async () =>
        {
            try
            {
                await using var scope = source.Sequence().OpenScope();
                try
                {
                    await foreach (int item in scope)
                    {
                        if (item == 3)
                        {
                            throw thrown;
                        }
                    }
                }
                catch (Exception consumerException)
                {
                    Assert.That(source.FinallyRan, Is.False, "the source is cleaned up by the scope, after the catch");
                    scope.ForwardException(consumerException);
                    throw;
                }
            }
            catch (FormatException)
            {
                finallyRanWhenCaught = source.FinallyRan;
                throw;
            }
        });

        Assert.That(ex, Is.SameAs(thrown));
        Assert.That(finallyRanWhenCaught, Is.True, "cleanup finished before the scope's disposal returned");
        Assert.That(source.SeenInFinally, Is.SameAs(thrown));
        Assert.That(source.SeenByTokenCallback, Is.SameAs(thrown), "set before the token is cancelled");
        Assert.That(source.CancelledInFinally, Is.True);
        Assert.That(source.FinallyThreadId, Is.EqualTo(source.SourceThreadId), "cleanup runs on the source thread");
    }

    [Test]
    public async Task An_exception_in_the_loop_body_without_forwarding_still_stops_and_cleans_up_the_source_at_the_scopes_end()
    {
        var source = new ObservedSource();
        bool finallyRanWhenCaught = false;
        await Assert.ThrowsAsync<TimeoutException>(async () =>
        {
            try
            {
                await using var scope = source.Sequence().OpenScope();
                await foreach (int item in scope)
                {
                    if (item == 2)
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
        Assert.That(source.CancelledInFinally, Is.True);
        Assert.That(source.SeenInFinally, Is.Null, "C# does not say why the loop ended; nothing was forwarded");
    }

    [Test]
    public async Task Leaving_a_loop_does_not_stop_the_source_and_a_second_loop_continues_with_the_next_item()
    {
        var source = new ObservedSource();
        var first = new List<int>();
        var second = new List<int>();
        await using (var scope = source.Sequence(length: 6).OpenScope())
        {
            await foreach (int item in scope)
            {
                first.Add(item);
                if (item == 2)
                {
                    break;
                }
            }

            Assert.That(source.FinallyRan, Is.False, "a loop's end only detaches it");
            await foreach (int item in scope)
            {
                second.Add(item);
            }
        }

        Assert.That(first, Is.EqualTo(new[] { 0, 1, 2 }));
        Assert.That(second, Is.EqualTo(new[] { 3, 4, 5 }));
        Assert.That(source.FinallyRan, Is.True);
        Assert.That(source.CancelledInFinally, Is.False, "a source that runs to its end is not cancelled");
    }

    [Test]
    public async Task A_failing_cleanup_is_thrown_by_DisposeAsync_together_with_the_forwarded_exception()
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

        var scope = ThreadedAsyncEnumerable.Create(Source()).OpenScope();
        await foreach (int _ in scope)
        {
            break;
        }

        var forwarded = new FormatException("consumer failed");
        scope.ForwardException(forwarded);
        var ex = await Assert.ThrowsAsync<AggregateException>(async () => await scope.DisposeAsync().AsTask().WaitAsync(Bound));
        Assert.That(ex!.InnerExceptions[0], Is.SameAs(forwarded));
        Assert.That(ex.InnerExceptions[1], Is.TypeOf<IOException>());
        await Assert.DoesNotThrowAsync(async () => await scope.DisposeAsync(), "a second disposal is a no-op");
    }

    [Test]
    public async Task Without_a_forwarded_exception_a_failing_cleanup_is_thrown_as_is()
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

        var scope = ThreadedAsyncEnumerable.Create(Source()).OpenScope();
        await foreach (int _ in scope)
        {
            break;
        }

        var ex = await Assert.ThrowsAsync<IOException>(async () => await scope.DisposeAsync().AsTask().WaitAsync(Bound));
        Assert.That(ex!.Message, Is.EqualTo("cleanup failed"));
    }

    [Test]
    public async Task Forwarding_after_the_source_ended_has_no_effect()
    {
        var source = new ObservedSource();
        var items = new List<int>();
        var scope = source.Sequence(length: 3).OpenScope();
        await foreach (int item in scope)
        {
            items.Add(item);
        }

        scope.ForwardException(new FormatException("after the end"));
        await scope.DisposeAsync().AsTask().WaitAsync(Bound);
        Assert.That(items, Is.EqualTo(new[] { 0, 1, 2 }));
        Assert.That(source.SeenInFinally, Is.Null);
        Assert.That(source.CancelledInFinally, Is.False);
    }

    [Test]
    public async Task Only_the_first_forwarded_exception_is_kept()
    {
        var source = new ObservedSource();
        var first = new FormatException("first");
        await using (var scope = source.Sequence().OpenScope())
        {
            await foreach (int _ in scope)
            {
                break;
            }

            scope.ForwardException(first);
            scope.ForwardException(new TimeoutException("second"));
        }

        Assert.That(source.SeenInFinally, Is.SameAs(first));
    }

    [Test]
    public async Task Nothing_runs_before_the_first_MoveNextAsync_and_an_unused_scope_never_calls_the_factory()
    {
        int calls = 0;
        var sequence = ThreadedAsyncEnumerable.Create(_ =>
        {
            Interlocked.Increment(ref calls);
            return new[] { 1 };
        });

        var scope = sequence.OpenScope();
        IAsyncEnumerator<int> loop = scope.GetAsyncEnumerator();
        await loop.DisposeAsync();
        scope.ForwardException(new FormatException("never seen"));
        await scope.DisposeAsync();
        Assert.That(Volatile.Read(ref calls), Is.Zero);
    }

    [Test]
    public async Task A_second_loop_while_the_first_is_not_disposed_is_rejected_and_a_disposed_scope_rejects_new_loops()
    {
        var source = new ObservedSource();
        var scope = source.Sequence().OpenScope();
        IAsyncEnumerator<int> first = scope.GetAsyncEnumerator();
        Assert.That(await first.MoveNextAsync().AsTask().WaitAsync(Bound), Is.True);
        Assert.Throws<InvalidOperationException>(() => scope.GetAsyncEnumerator());

        await first.DisposeAsync();
        IAsyncEnumerator<int> second = scope.GetAsyncEnumerator();
        Assert.That(await second.MoveNextAsync().AsTask().WaitAsync(Bound), Is.True);
        Assert.That(second.Current, Is.EqualTo(1));

        await scope.DisposeAsync().AsTask().WaitAsync(Bound);
        Assert.That(source.FinallyRan, Is.True);
        Assert.Throws<ObjectDisposedException>(() => scope.GetAsyncEnumerator());
        await Assert.CatchAsync<ObjectDisposedException>(async () => await second.MoveNextAsync(), "the enumeration has ended");
        await second.DisposeAsync();
    }

    [Test]
    public async Task Cancelling_a_loops_token_ends_the_enumeration_and_stops_a_blocked_source_at_once()
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

        var scope = ThreadedAsyncEnumerable.Create(Source).OpenScope();
        IAsyncEnumerator<int> loop = scope.GetAsyncEnumerator(cts.Token);
        Assert.That(await loop.MoveNextAsync().AsTask().WaitAsync(Bound), Is.True);
        Task<bool> waiting = loop.MoveNextAsync().AsTask();
        Assert.That(blocked.Wait(Bound), Is.True);

        await cts.CancelAsync();
        var ex = await Assert.ThrowsAsync<OperationCanceledException>(() => waiting.WaitAsync(Bound));
        Assert.That(ex!.CancellationToken, Is.EqualTo(cts.Token));
        await Assert.CatchAsync<OperationCanceledException>(async () => await loop.MoveNextAsync(), "later calls fail too");

        // Stopped without waiting for the scope's disposal.
        var deadline = DateTime.UtcNow + Bound;
        while (!Volatile.Read(ref finallyRan) && DateTime.UtcNow < deadline)
        {
            await Task.Yield();
        }

        Assert.That(Volatile.Read(ref finallyRan), Is.True);
        await loop.DisposeAsync();
        await scope.DisposeAsync().AsTask().WaitAsync(Bound);
    }

    [Test]
    public async Task The_scopes_token_cancelled_before_the_first_MoveNextAsync_never_starts_the_source()
    {
        int calls = 0;
        var sequence = ThreadedAsyncEnumerable.Create(_ =>
        {
            Interlocked.Increment(ref calls);
            return new[] { 1 };
        });

        await using var scope = sequence.OpenScope(new CancellationToken(canceled: true));
        await Assert.CatchAsync<OperationCanceledException>(async () =>
        {
            await foreach (int _ in scope)
            {
                Assert.Fail("no item expected");
            }
        });
        Assert.That(Volatile.Read(ref calls), Is.Zero);
    }

    [Test]
    public async Task Disposing_a_loop_with_a_MoveNextAsync_pending_ends_the_enumeration_instead_of_losing_the_item()
    {
        using var release = new ManualResetEventSlim();
        bool finallyRan = false;
        IEnumerable<int> Source(CancellationToken token)
        {
            try
            {
                yield return 1;
                release.Wait(token);
                yield return 2;
            }
            finally
            {
                finallyRan = true;
            }
        }

        var scope = ThreadedAsyncEnumerable.Create(Source).OpenScope();
        IAsyncEnumerator<int> loop = scope.GetAsyncEnumerator();
        Assert.That(await loop.MoveNextAsync().AsTask().WaitAsync(Bound), Is.True);
        Task<bool> pending = loop.MoveNextAsync().AsTask();

        await loop.DisposeAsync().AsTask().WaitAsync(Bound);
        await Assert.CatchAsync<ObjectDisposedException>(() => pending.WaitAsync(Bound));
        Assert.That(finallyRan, Is.True);
        Assert.Throws<ObjectDisposedException>(() => scope.GetAsyncEnumerator());
    }

    [Test]
    public void Forwarding_null_is_rejected_naming_the_argument()
    {
        var scope = ThreadedAsyncEnumerable.Create(new[] { 1 }).OpenScope();
        var ex = Assert.Throws<ArgumentNullException>(() => scope.ForwardException(null!));
        Assert.That(ex!.ParamName, Is.EqualTo("exception"));
    }
}
