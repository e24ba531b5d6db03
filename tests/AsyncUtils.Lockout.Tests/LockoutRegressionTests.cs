using System.Runtime.CompilerServices;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Tests;

/// <summary>Regression tests for issue 12 (items 5, 6 and 7).</summary>
public sealed class LockoutRegressionTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Century = TimeSpan.FromDays(36525);

    [Test]
    public void Waits_released_while_they_are_being_queued_leave_no_registration_on_a_long_lived_token()
    {
        // Four threads relock for a microsecond and enter, so waits are released by each other's
        // entries while they are being queued. A registration left on the token after its wait
        // ended keeps that wait, and through it its lockout, reachable from the token: a lockout
        // still alive after a full GC while the token's source lives has leaked one. Bounded:
        // 150 lockouts of 4 x 2,000 entries (about two seconds; before the fix about 1 lockout in 40 leaked).
        using var cts = new CancellationTokenSource();
        var lockouts = new List<WeakReference>();
        for (int round = 0; round < 150; round++)
        {
            lockouts.Add(RunRound(cts.Token));
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        int leaked = lockouts.Count(w => w.IsAlive);
        GC.KeepAlive(cts);
        Assert.That(leaked, Is.Zero, $"{leaked} of {lockouts.Count} lockouts are still reachable from the token: their registrations were never disposed");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference RunRound(CancellationToken token)
    {
        var lockout = new Lockout();
        using var start = new Barrier(4);
        var threads = Enumerable.Range(0, 4).Select(_ => new Thread(() =>
        {
            var pending = new List<ValueTask>();
            start.SignalAndWait();
            for (int i = 0; i < 2_000; i++)
            {
                lockout.LockFor(TimeSpan.FromTicks(10));
                pending.Add(lockout.EnterAsync(token));
            }

            // Every wait ends: the last lockout is a microsecond long and its timer fires.
            foreach (ValueTask wait in pending)
            {
                wait.AsTask().Wait(Bound);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.That(t.Join(Bound), Is.True));
        Assert.That(lockout.WaitingCount, Is.Zero);
        return new WeakReference(lockout);
    }

    [Test]
    public void The_longest_lockout_on_a_1_kHz_clock_is_a_century_and_its_end_can_be_read()
    {
        // Before: LockedUntil and EnterOrThrow threw ArgumentOutOfRangeException (the end, about
        // 29,000 years away, overflowed DateTimeOffset).
        var time = new ClockWithFrequency(1000);
        var lockout = new Lockout(new LockoutOptions { TimeProvider = time });
        DateTimeOffset now = time.GetUtcNow();
        lockout.LockFor(TimeSpan.MaxValue);
        Assert.That(lockout.IsLocked, Is.True);
        Assert.That(lockout.LockedUntil, Is.EqualTo(now + Century));
        LockoutActiveException ex = Assert.Throws<LockoutActiveException>(lockout.EnterOrThrow)!;
        Assert.That(ex.RetryAfter, Is.EqualTo(Century));
        Assert.That(ex.LockedUntil, Is.EqualTo(now + Century));
    }

    [TestCase(1_000L)]
    [TestCase(10_000_000L)]
    [TestCase(1_000_000_000L)]
    public void Lockouts_longer_than_a_century_are_capped_at_a_century_whatever_the_clocks_frequency(long frequency)
    {
        // Before: at 1 GHz (Stopwatch on Linux) the cap was about 73 years: LockFor(100 years) ended early.
        var time = new ClockWithFrequency(frequency);
        var lockout = new Lockout(new LockoutOptions { TimeProvider = time });
        DateTimeOffset now = time.GetUtcNow();
        lockout.LockFor(Century - TimeSpan.FromDays(1));
        Assert.That(lockout.LockedUntil, Is.EqualTo(now + Century - TimeSpan.FromDays(1)), "below the cap: exact");
        lockout.LockFor(Century * 2);
        Assert.That(lockout.LockedUntil, Is.EqualTo(now + Century));
        lockout.LockUntil(DateTimeOffset.MaxValue);
        Assert.That(lockout.LockedUntil, Is.EqualTo(now + Century));
        ValueTask waiting = lockout.EnterAsync();
        time.Advance(Century - TimeSpan.FromSeconds(1));
        Assert.That(waiting.IsCompleted, Is.False);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(waiting.IsCompletedSuccessfully, Is.True);
    }

    [Test]
    public async Task In_fifo_mode_a_lockout_begun_by_a_waiter_resumed_on_a_synchronization_context_holds_back_those_behind_it()
    {
        // Before: the release chain posted w0's continuation to the context and let w1 and w2 in
        // at once, so w0's lockout held back nobody.
        var time = new FakeTimeProvider();
        var lockout = new Lockout(new LockoutOptions { Fifo = true, TimeProvider = time });
        using var context = new QueueingContext();
        var order = new List<int>();
        var entered = new List<DateTimeOffset>();
        DateTimeOffset start = time.GetUtcNow();
        lockout.LockFor(TimeSpan.FromSeconds(1));

        async Task Enter(int id)
        {
            await lockout.EnterAsync(); // resumes on the context
            Assert.That(SynchronizationContext.Current, Is.SameAs(context));
            order.Add(id);
            entered.Add(time.GetUtcNow());
            if (id == 0)
            {
                lockout.LockFor(TimeSpan.FromSeconds(5));
            }
        }

        var waiters = new List<Task>();
        context.Run(() => waiters.AddRange(Enumerable.Range(0, 3).Select(Enter)));
        Assert.That(lockout.WaitingCount, Is.EqualTo(3));

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(lockout.WaitingCount, Is.EqualTo(2), "only w0 is let in until its continuation has run");
        context.RunAll();
        Assert.That(order, Is.EqualTo(new[] { 0 }));

        time.Advance(TimeSpan.FromSeconds(5));
        context.RunUntil(() => order.Count == 3, Bound);
        await Task.WhenAll(waiters).WaitAsync(Bound);
        Assert.That(order, Is.EqualTo(new[] { 0, 1, 2 }));
        Assert.That(entered, Is.EqualTo(new[] { start + TimeSpan.FromSeconds(1), start + TimeSpan.FromSeconds(6), start + TimeSpan.FromSeconds(6) }), "w0's lockout held back w1 and w2");
        Assert.That(lockout.WaitingCount, Is.Zero);
    }

    [Test]
    public async Task In_fifo_mode_a_lockout_begun_by_a_waiter_resumed_on_a_task_scheduler_holds_back_those_behind_it()
    {
        var time = new FakeTimeProvider();
        var lockout = new Lockout(new LockoutOptions { Fifo = true, TimeProvider = time });
        var scheduler = new ConcurrentExclusiveSchedulerPair().ExclusiveScheduler;
        var entered = new System.Collections.Concurrent.ConcurrentQueue<(int Id, DateTimeOffset At)>();
        DateTimeOffset start = time.GetUtcNow();
        lockout.LockFor(TimeSpan.FromSeconds(1));

        async Task Enter(int id)
        {
            await lockout.EnterAsync(); // resumes on the scheduler
            Assert.That(TaskScheduler.Current, Is.SameAs(scheduler));
            entered.Enqueue((id, time.GetUtcNow()));
            if (id == 0)
            {
                lockout.LockFor(TimeSpan.FromSeconds(5));
            }
        }

        var waiters = new List<Task>();
        for (int i = 0; i < 2; i++)
        {
            int id = i;
            waiters.Add(await Task.Factory.StartNew(() => Enter(id), CancellationToken.None, TaskCreationOptions.None, scheduler));
            Assert.That(SpinWait.SpinUntil(() => lockout.WaitingCount == id + 1, Bound), Is.True);
        }

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(SpinWait.SpinUntil(() => !entered.IsEmpty, Bound), Is.True);
        time.Advance(TimeSpan.FromSeconds(5));
        await Task.WhenAll(waiters).WaitAsync(Bound);
        Assert.That(entered, Is.EqualTo(new[] { (0, start + TimeSpan.FromSeconds(1)), (1, start + TimeSpan.FromSeconds(6)) }), "w0's lockout held back w1");
    }

    [Test]
    public async Task In_fifo_mode_a_waiter_cancelled_on_a_synchronization_context_throws_there_and_the_others_still_enter()
    {
        var time = new FakeTimeProvider();
        var lockout = new Lockout(new LockoutOptions { Fifo = true, TimeProvider = time });
        using var context = new QueueingContext();
        using var cts = new CancellationTokenSource();
        var outcome = new List<string>();
        lockout.LockFor(TimeSpan.FromSeconds(1));

        async Task Enter(string name, CancellationToken token)
        {
            try
            {
                await lockout.EnterAsync(token);
                outcome.Add($"{name} entered");
            }
            catch (OperationCanceledException)
            {
                outcome.Add($"{name} cancelled");
            }

            Assert.That(SynchronizationContext.Current, Is.SameAs(context));
        }

        var waiters = new List<Task>();
        context.Run(() =>
        {
            waiters.Add(Enter("a", cts.Token));
            waiters.Add(Enter("b", CancellationToken.None));
        });
        cts.Cancel();
        context.RunUntil(() => outcome.Count == 1, Bound);
        Assert.That(outcome, Is.EqualTo(new[] { "a cancelled" }));
        time.Advance(TimeSpan.FromSeconds(1));
        context.RunUntil(() => outcome.Count == 2, Bound);
        await Task.WhenAll(waiters).WaitAsync(Bound);
        Assert.That(outcome, Is.EqualTo(new[] { "a cancelled", "b entered" }));
        Assert.That(lockout.WaitingCount, Is.Zero);
    }

    [Test]
    public async Task The_fifo_release_chain_gives_up_the_releasing_thread_after_a_bounded_number_of_waiters()
    {
        // Before: the thread that ended the lockout (here the test thread, through the fake timer)
        // ran every waiter's continuation itself, however many there were or kept coming back.
        var time = new FakeTimeProvider();
        var lockout = new Lockout(new LockoutOptions { Fifo = true, TimeProvider = time });
        lockout.LockFor(TimeSpan.FromSeconds(1));
        int releasingThread = Environment.CurrentManagedThreadId;
        int onReleasingThread = 0;
        var order = new System.Collections.Concurrent.ConcurrentQueue<int>();

        async Task Enter(int id)
        {
            // Each caller comes back straight after entering, as a retry loop would.
            for (int round = 0; round < 3; round++)
            {
                await lockout.EnterAsync().ConfigureAwait(false);
                if (Environment.CurrentManagedThreadId == releasingThread)
                {
                    onReleasingThread++;
                }

                order.Enqueue(id);
            }
        }

        var waiters = Enumerable.Range(0, 100).Select(Enter).ToList();
        time.Advance(TimeSpan.FromSeconds(1));
        int inline = Volatile.Read(ref onReleasingThread);
        await Task.WhenAll(waiters).WaitAsync(Bound);
        Assert.That(order, Has.Count.EqualTo(300));
        Assert.That(order.Take(100), Is.EqualTo(Enumerable.Range(0, 100)), "arrival order kept across the hand-offs");
        Assert.That(inline, Is.EqualTo(32), "the releasing thread let in 32, then handed the chain to the pool");
    }

    /// <summary>A single-threaded context whose posts wait in a queue until the test runs them.</summary>
    private sealed class QueueingContext : SynchronizationContext, IDisposable
    {
        private readonly Queue<(SendOrPostCallback Callback, object? State)> _posted = new();
        private readonly SemaphoreSlim _signal = new(0);

        public override void Post(SendOrPostCallback d, object? state)
        {
            lock (_posted)
            {
                _posted.Enqueue((d, state));
            }

            _signal.Release();
        }

        /// <summary>Runs posts as they arrive (from any thread) until <paramref name="done"/> holds.</summary>
        public void RunUntil(Func<bool> done, TimeSpan bound)
        {
            while (!done())
            {
                Assert.That(_signal.Wait(bound), Is.True, "a post was expected");
                RunAll();
            }
        }

        public override void Send(SendOrPostCallback d, object? state) => throw new NotSupportedException();

        public void Dispose() => _signal.Dispose();

        public void Run(Action action)
        {
            SynchronizationContext? previous = Current;
            SetSynchronizationContext(this);
            try
            {
                action();
            }
            finally
            {
                SetSynchronizationContext(previous);
            }
        }

        public void RunAll()
        {
            while (true)
            {
                (SendOrPostCallback Callback, object? State) next;
                lock (_posted)
                {
                    if (!_posted.TryDequeue(out next))
                    {
                        return;
                    }
                }

                Run(() => next.Callback(next.State));
            }
        }
    }

    /// <summary>A fake clock whose timestamps tick at <c>frequency</c> per second, counted from the start of its time.</summary>
    private sealed class ClockWithFrequency(long frequency) : FakeTimeProvider
    {
        public override long TimestampFrequency => frequency;

        public override long GetTimestamp() =>
            (long)((Int128)(GetUtcNow() - Start).Ticks * frequency / TimeSpan.TicksPerSecond);
    }
}
