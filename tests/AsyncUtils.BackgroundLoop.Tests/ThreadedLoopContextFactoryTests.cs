namespace AsyncUtils.Tests;

/// <summary><see cref="ThreadedLoopOptions.SynchronizationContextFactory"/>: the loop-factory hook.</summary>
public sealed class ThreadedLoopContextFactoryTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Loop_work_and_every_continuation_run_under_the_factory_context_on_the_loop_thread()
    {
        TaggingContext? made = null;
        int factoryThread = 0;
        SynchronizationContext? given = null;
        await using var loop = new ThreadedLoop(new ThreadedLoopOptions
        {
            SynchronizationContextFactory = loopContext =>
            {
                factoryThread = Environment.CurrentManagedThreadId;
                given = loopContext;
                return made = new TaggingContext(loopContext);
            },
        });
        var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<List<(int Thread, bool Tagged)>> work = loop.Schedule(async ct =>
        {
            var seen = new List<(int, bool)>();
            void Record() => seen.Add((Environment.CurrentManagedThreadId, SynchronizationContext.Current is TaggingContext));
            Record();
            await Task.Yield();
            Record();
            await Task.Delay(1, ct); // completes on a timer thread
            Record();
            await released.Task; // completed from the test's thread
            Record();
            await Task.Run(() => { }, ct);
            Record();
            return seen;
        });
        released.SetResult();
        List<(int Thread, bool Tagged)> seen = await work.WaitAsync(Bound);

        Assert.That(factoryThread, Is.EqualTo(loop.ManagedThreadId), "the factory runs on the loop thread");
        Assert.That(given, Is.Not.Null.And.Not.InstanceOf<TaggingContext>());
        Assert.That(seen, Has.Count.EqualTo(5));
        Assert.That(seen, Has.All.EqualTo((loop.ManagedThreadId, true)), "every step on the loop thread, under the factory's context");
        Assert.That(made!.Posts, Is.GreaterThanOrEqualTo(2), "the continuations (at least Yield and Delay) went through the factory's context");
        Assert.That(await loop.Schedule(_ => SynchronizationContext.Current).WaitAsync(Bound), Is.SameAs(made), "synchronous work too");
    }

    [Test]
    public async Task Posted_work_under_a_factory_context_still_reports_its_faults_on_the_loop_thread()
    {
        var reported = new TaskCompletionSource<(Exception, int)>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var loop = new ThreadedLoop(new ThreadedLoopOptions { SynchronizationContextFactory = c => new TaggingContext(c) });
        loop.UnhandledException += (_, e) => reported.TrySetResult((e.Exception, Environment.CurrentManagedThreadId));
        var failure = new FormatException("posted");
        loop.Post(async _ =>
        {
            await Task.Yield();
            throw failure;
        });

        (Exception exception, int thread) = await reported.Task.WaitAsync(Bound);
        Assert.That(exception, Is.SameAs(failure));
        Assert.That(thread, Is.EqualTo(loop.ManagedThreadId));
    }

    [Test]
    public void A_factory_that_throws_makes_the_constructor_throw_InvalidOperationException_with_its_exception()
    {
        var failure = new NotSupportedException("no such loop");
        int calls = 0;
        var options = new ThreadedLoopOptions
        {
            ThreadName = "factory-throws",
            SynchronizationContextFactory = _ =>
            {
                Interlocked.Increment(ref calls);
                throw failure;
            },
        };

        InvalidOperationException? thrown = Assert.Throws<InvalidOperationException>(() => _ = new ThreadedLoop(options));
        Assert.That(thrown!.InnerException, Is.SameAs(failure));
        Assert.That(thrown.Message, Does.Contain(nameof(ThreadedLoopOptions.SynchronizationContextFactory)));
        Assert.That(calls, Is.EqualTo(1));
    }

    [Test]
    public void A_factory_that_returns_null_makes_the_constructor_throw_InvalidOperationException()
    {
        var options = new ThreadedLoopOptions { SynchronizationContextFactory = _ => null! };
        InvalidOperationException? thrown = Assert.Throws<InvalidOperationException>(() => _ = new ThreadedLoop(options));
        Assert.That(thrown!.Message, Does.Contain(nameof(ThreadedLoopOptions.SynchronizationContextFactory)).And.Contain("null"));
    }

    [Test]
    public async Task The_options_stay_usable_after_a_factory_failed()
    {
        bool fail = true;
        var options = new ThreadedLoopOptions { SynchronizationContextFactory = c => fail ? throw new InvalidOperationException("not yet") : new TaggingContext(c) };
        Assert.Throws<InvalidOperationException>(() => _ = new ThreadedLoop(options));
        fail = false;
        await using var loop = new ThreadedLoop(options);
        Assert.That(await loop.Schedule(_ => SynchronizationContext.Current is TaggingContext).WaitAsync(Bound), Is.True);
    }

    [Test]
    public async Task A_factory_that_returns_the_loop_context_leaves_the_loop_as_it_is()
    {
        SynchronizationContext? given = null;
        await using var loop = new ThreadedLoop(new ThreadedLoopOptions { SynchronizationContextFactory = c => given = c });
        SynchronizationContext? current = await loop.Schedule(async _ =>
        {
            await Task.Yield();
            return SynchronizationContext.Current;
        }).WaitAsync(Bound);
        Assert.That(current, Is.SameAs(given));
    }

    /// <summary>A decorating context as the option's docs describe: forwards to the loop and makes itself current.</summary>
    private sealed class TaggingContext(SynchronizationContext loop) : SynchronizationContext
    {
        private int _posts;

        public int Posts => Volatile.Read(ref _posts);

        public override void Post(SendOrPostCallback d, object? state)
        {
            Interlocked.Increment(ref _posts);
            loop.Post(static s => { (TaggingContext self, SendOrPostCallback d, object? state) = ((TaggingContext, SendOrPostCallback, object?))s!; self.RunAsCurrent(d, state); }, (this, d, state));
        }

        public override void Send(SendOrPostCallback d, object? state) =>
            loop.Send(static s => { (TaggingContext self, SendOrPostCallback d, object? state) = ((TaggingContext, SendOrPostCallback, object?))s!; self.RunAsCurrent(d, state); }, (this, d, state));

        public override SynchronizationContext CreateCopy() => this;

        private void RunAsCurrent(SendOrPostCallback d, object? state)
        {
            SynchronizationContext? previous = Current;
            SetSynchronizationContext(this);
            try
            {
                d(state);
            }
            finally
            {
                SetSynchronizationContext(previous);
            }
        }
    }
}
