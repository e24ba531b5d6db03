namespace AsyncUtils.Tests;

/// <summary>Per-join timeouts and the total shutdown deadline, on a fake clock.</summary>
public sealed class SignalHostDeadlineTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private static SignalHost Host(WatchedTimeProvider time, TimeSpan shutdownTimeout) =>
        FakeSignals.Host(out _, new SignalHostOptions { TimeProvider = time, ShutdownTimeout = shutdownTimeout });

    [Test]
    public async Task A_join_that_misses_its_timeout_is_abandoned_its_token_is_cancelled_and_the_next_join_runs()
    {
        var time = new WatchedTimeProvider();
        SignalHost host = Host(time, Timeout.InfiniteTimeSpan);
        var log = new Log();
        CancellationToken joinToken = default;
        host.AddJoin(ct =>
        {
            joinToken = ct;
            return Task.Delay(Timeout.Infinite, CancellationToken.None); // ignores its token: must be abandoned
        }, TimeSpan.FromSeconds(5));
        host.AddJoin(() => log.Add("join 1"));
        host.RequestShutdown();

        Task<SignalHostResult> run = host.RunAsync();
        await time.WaitForTimersAsync(1);
        time.Advance(TimeSpan.FromSeconds(4.9));
        Assert.That(run.IsCompleted, Is.False);
        time.Advance(TimeSpan.FromSeconds(0.1));
        SignalHostResult result = await run.WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(log.Entries, Is.EqualTo(new[] { "join 1" }));
            Assert.That(joinToken.IsCancellationRequested, Is.True);
            Assert.That(result.Faults.Single().Phase, Is.EqualTo(SignalHostPhase.Join));
            Assert.That(result.Faults.Single().Index, Is.Zero);
            Assert.That(result.Faults.Single().Exception, Is.TypeOf<TimeoutException>()
                .With.Message.EqualTo("Join 0 did not finish within its timeout of 5 s; the host stopped waiting for it."));
            Assert.That(result.ExitCode, Is.EqualTo(1));
            Assert.That(result.ShutdownDuration, Is.EqualTo(TimeSpan.FromSeconds(5)));
        });
    }

    [Test]
    public async Task A_join_that_honours_its_token_at_the_timeout_is_reported_as_a_timeout()
    {
        var time = new WatchedTimeProvider();
        SignalHost host = Host(time, Timeout.InfiniteTimeSpan);
        host.AddJoin(ct => Task.Delay(Timeout.Infinite, ct), TimeSpan.FromSeconds(5));
        host.RequestShutdown();

        Task<SignalHostResult> run = host.RunAsync();
        await time.WaitForTimersAsync(1);
        time.Advance(TimeSpan.FromSeconds(5));
        SignalHostResult result = await run.WaitAsync(Bound);

        Assert.That(result.Faults.Single().Exception, Is.TypeOf<TimeoutException>());
    }

    [Test]
    public async Task A_join_that_finishes_in_time_is_not_a_fault()
    {
        var time = new WatchedTimeProvider();
        SignalHost host = Host(time, TimeSpan.FromSeconds(30));
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        host.AddJoin(done.Task, TimeSpan.FromSeconds(5));
        host.RequestShutdown();

        Task<SignalHostResult> run = host.RunAsync();
        await time.WaitForTimersAsync(2); // the ShutdownRequested step, then the join
        time.Advance(TimeSpan.FromSeconds(4));
        done.SetResult();
        SignalHostResult result = await run.WaitAsync(Bound);

        Assert.That(result.IsClean, Is.True);
        Assert.That(result.ShutdownDuration, Is.EqualTo(TimeSpan.FromSeconds(4)));
    }

    [Test]
    public async Task The_shutdown_deadline_abandons_the_step_in_progress_and_skips_the_rest()
    {
        var time = new WatchedTimeProvider();
        SignalHost host = Host(time, TimeSpan.FromSeconds(10));
        var log = new Log();
        host.AddShutdownCallback(_ => new TaskCompletionSource().Task); // never finishes
        host.AddShutdownCallback(_ => log.Add("callback 1"));
        host.AddJoin(() => log.Add("join 0"));
        host.RequestShutdown();

        Task<SignalHostResult> run = host.RunAsync();
        await time.WaitForTimersAsync(2);
        time.Advance(TimeSpan.FromSeconds(10));
        SignalHostResult result = await run.WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(log.Entries, Is.Empty);
            Assert.That(result.Faults.Single().Phase, Is.EqualTo(SignalHostPhase.ShutdownCallback));
            Assert.That(result.Faults.Single().Index, Is.Zero);
            Assert.That(result.Faults.Single().Exception.Message, Is.EqualTo(
                "Shutdown callback 0 had not finished when the shutdown deadline of 10 s passed; the host stopped waiting for it and skipped the 2 step(s) after it."));
            Assert.That(result.ShutdownDuration, Is.EqualTo(TimeSpan.FromSeconds(10)));
            Assert.That(result.ExitCode, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task The_shutdown_deadline_cuts_a_join_timeout_short_when_it_comes_first()
    {
        var time = new WatchedTimeProvider();
        SignalHost host = Host(time, TimeSpan.FromSeconds(10));
        var log = new Log();
        CancellationToken joinToken = default;
        host.AddShutdownCallback(_ => time.Advance(TimeSpan.FromSeconds(4))); // a slow callback uses 4 s of the 10
        host.AddJoin(ct =>
        {
            joinToken = ct;
            return Task.Delay(Timeout.Infinite, ct);
        }, TimeSpan.FromSeconds(30));
        host.AddJoin(() => log.Add("join 1"));
        host.RequestShutdown();

        Task<SignalHostResult> run = host.RunAsync();
        await time.WaitForTimersAsync(3);
        time.Advance(TimeSpan.FromSeconds(5.9));
        Assert.That(joinToken.IsCancellationRequested, Is.False);
        time.Advance(TimeSpan.FromSeconds(0.1));
        SignalHostResult result = await run.WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(joinToken.IsCancellationRequested, Is.True);
            Assert.That(log.Entries, Is.Empty);
            Assert.That(result.Faults.Single().Phase, Is.EqualTo(SignalHostPhase.Join));
            Assert.That(result.Faults.Single().Exception.Message, Does.Contain("shutdown deadline of 10 s"));
            Assert.That(result.ShutdownDuration, Is.EqualTo(TimeSpan.FromSeconds(10)));
        });
    }

    [Test]
    public async Task A_synchronous_step_that_overruns_the_deadline_finishes_and_the_steps_after_it_are_skipped()
    {
        var time = new WatchedTimeProvider();
        SignalHost host = Host(time, TimeSpan.FromSeconds(10));
        var log = new Log();
        host.AddJoin(() =>
        {
            time.Advance(TimeSpan.FromSeconds(11));
            log.Add("join 0 finished late");
        });
        host.AddJoin(() => log.Add("join 1"));
        host.AddJoin(() => log.Add("join 2"));
        host.RequestShutdown();

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(log.Entries, Is.EqualTo(new[] { "join 0 finished late" }));
            Assert.That(result.Faults.Single().Phase, Is.EqualTo(SignalHostPhase.Join));
            Assert.That(result.Faults.Single().Index, Is.EqualTo(1));
            Assert.That(result.Faults.Single().Exception.Message, Is.EqualTo(
                "The shutdown deadline of 10 s passed before join 1 could run; it and the 1 step(s) after it were skipped."));
        });
    }

    [Test]
    public async Task A_thread_join_waits_for_the_thread_and_one_with_a_timeout_gives_up_on_a_thread_still_running()
    {
        var time = new WatchedTimeProvider();
        SignalHost host = Host(time, Timeout.InfiniteTimeSpan);
        using var release = new ManualResetEventSlim();
        var finished = new Thread(() => { });
        var stuck = new Thread(() => release.Wait(Bound)) { IsBackground = true };
        host.AddStartupJob(finished.Start);
        host.AddStartupJob(stuck.Start);
        host.AddJoin(finished);
        host.AddJoin(stuck, TimeSpan.FromSeconds(5));
        host.RequestShutdown();

        try
        {
            Task<SignalHostResult> run = host.RunAsync();
            await time.WaitForTimersAsync(1);
            time.Advance(TimeSpan.FromSeconds(5));
            SignalHostResult result = await run.WaitAsync(Bound);

            Assert.Multiple(() =>
            {
                Assert.That(finished.IsAlive, Is.False);
                Assert.That(stuck.IsAlive, Is.True, "the host gave up waiting; the thread goes on");
                Assert.That(result.Faults.Single().Index, Is.EqualTo(1));
                Assert.That(result.Faults.Single().Exception, Is.TypeOf<TimeoutException>());
            });
        }
        finally
        {
            release.Set();
        }
    }

    [Test]
    public async Task A_thread_join_whose_thread_ends_during_the_wait_completes()
    {
        SignalHost host = FakeSignals.Host(out _);
        using var release = new ManualResetEventSlim();
        var worker = new Thread(() => release.Wait(Bound));
        host.AddStartupJob(worker.Start);
        host.AddShutdownCallback(_ => release.Set());
        host.AddJoin(worker, TimeSpan.FromSeconds(30));
        host.RequestShutdown();

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.That(result.IsClean, Is.True);
        Assert.That(worker.IsAlive, Is.False);
    }

    [Test]
    public async Task Joining_a_thread_that_was_never_started_is_a_fault()
    {
        SignalHost host = FakeSignals.Host(out _);
        host.AddJoin(new Thread(() => { }));
        host.RequestShutdown();

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.That(result.Faults.Single().Exception, Is.TypeOf<ThreadStateException>());
    }
}
