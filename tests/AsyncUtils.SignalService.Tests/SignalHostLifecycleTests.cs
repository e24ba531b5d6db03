using System.Runtime.InteropServices;

namespace AsyncUtils.Tests;

/// <summary>The run's order of steps, its signal handlers, and what each cause reports.</summary>
public sealed class SignalHostLifecycleTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Run_installs_SIGINT_and_SIGTERM_handlers_before_the_first_startup_job_and_removes_them_at_the_end()
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals);
        IReadOnlyList<PosixSignal>? activeDuringStartup = null;
        host.AddStartupJob(() => activeDuringStartup = signals.Active);
        host.RequestShutdown();

        await host.RunAsync().WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(activeDuringStartup, Is.EquivalentTo(new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM }));
            Assert.That(signals.Active, Is.Empty);
            Assert.That(signals.Removed, Is.EquivalentTo(signals.Installed));
        });
    }

    [Test]
    public async Task SIGHUP_SIGQUIT_and_raw_signals_are_handled_only_when_asked_and_raw_2_is_SIGINT()
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals)
            .Handle(PosixSignal.SIGHUP, SignalAction.Reload)
            .Handle(PosixSignal.SIGQUIT, SignalAction.Shutdown)
            .Handle((PosixSignal)10, SignalAction.Reload)
            .Handle((PosixSignal)2, SignalAction.Ignore);
        host.RequestShutdown();

        await host.RunAsync().WaitAsync(Bound);

        Assert.That(signals.Installed, Is.EquivalentTo(new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT, (PosixSignal)10 }));
    }

    [Test]
    public async Task Startup_jobs_run_in_order_then_the_host_waits_then_callbacks_then_joins_run_in_order()
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals);
        var log = new Log();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        host.AddStartupJob(() => log.Add("startup 0"));
        host.AddStartupJob(async () =>
        {
            await Task.Yield();
            log.Add("startup 1");
        });
        host.AddStartupJob(ready.SetResult);
        host.AddShutdownCallback(cause => log.Add($"callback 0 {cause.Signal}"));
        host.AddShutdownCallback(async cause =>
        {
            await Task.Yield();
            log.Add($"callback 1 {cause.Signal}");
        });
        host.AddJoin(() => log.Add("join 0"));
        host.AddJoin(async () =>
        {
            await Task.Yield();
            log.Add("join 1");
        });
        host.AddJoin(async ct =>
        {
            await Task.Delay(1, ct);
            log.Add("join 2");
        }, TimeSpan.FromSeconds(30));

        Task<SignalHostResult> run = host.RunAsync();
        await ready.Task.WaitAsync(Bound);
        Assert.That(run.IsCompleted, Is.False, "the host waits for a signal after its startup jobs");
        Assert.That(log.Entries, Is.EqualTo(new[] { "startup 0", "startup 1" }));

        Assert.That(signals.Raise(PosixSignal.SIGTERM), Is.True, "the handler cancels the default action");
        SignalHostResult result = await run.WaitAsync(Bound);

        Assert.That(log.Entries, Is.EqualTo(new[] { "startup 0", "startup 1", "callback 0 SIGTERM", "callback 1 SIGTERM", "join 0", "join 1", "join 2" }));
        Assert.Multiple(() =>
        {
            Assert.That(result.Cause.Kind, Is.EqualTo(ShutdownCauseKind.Signal));
            Assert.That(result.Cause.Signal, Is.EqualTo(PosixSignal.SIGTERM));
            Assert.That(result.ExitCode, Is.EqualTo(143));
            Assert.That(result.IsClean, Is.True);
        });
    }

    [Test]
    public void Run_blocks_the_calling_thread_and_runs_every_synchronous_step_on_it()
    {
        SignalHost host = FakeSignals.Host(out _);
        var threads = new List<int>();
        host.AddStartupJob(() => threads.Add(Environment.CurrentManagedThreadId));
        host.AddStartupJob(async () =>
        {
            await Task.Delay(1); // resumes on the pool; the next step must still run on the caller
            host.RequestShutdown();
        });
        host.AddStartupJob(() => threads.Add(Environment.CurrentManagedThreadId));
        host.AddShutdownCallback(_ => threads.Add(Environment.CurrentManagedThreadId));
        host.AddJoin(async () => await Task.Delay(1));
        host.AddJoin(() => threads.Add(Environment.CurrentManagedThreadId));
        int caller = -1;
        SignalHostResult? result = null;

        var thread = new Thread(() =>
        {
            caller = Environment.CurrentManagedThreadId;
            result = host.Run();
        });
        thread.Start();
        Assert.That(thread.Join(Bound), Is.True);

        Assert.That(result!.Cause.Kind, Is.EqualTo(ShutdownCauseKind.Requested));
        Assert.That(threads, Has.Count.EqualTo(4).And.All.EqualTo(caller));
    }

    [TestCase(PosixSignal.SIGHUP, 129)]
    [TestCase(PosixSignal.SIGINT, 130)]
    [TestCase(PosixSignal.SIGQUIT, 131)]
    [TestCase(PosixSignal.SIGTERM, 143)]
    [TestCase((PosixSignal)10, 138)]
    public async Task A_shutdown_signal_exits_with_128_plus_its_number(PosixSignal signal, int exitCode)
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals).Handle(signal, SignalAction.Shutdown);
        ShutdownCause? seen = null;
        host.AddShutdownCallback(cause => seen = cause);
        host.AddStartupJob(() => signals.Raise(signal));

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(seen, Is.SameAs(result.Cause));
            Assert.That(result.Cause.Kind, Is.EqualTo(ShutdownCauseKind.Signal));
            Assert.That(result.Cause.Signal, Is.EqualTo(signal));
            Assert.That(result.Cause.Reason, Is.Null);
            Assert.That(result.Cause.ExitCode, Is.EqualTo(exitCode));
            Assert.That(result.ExitCode, Is.EqualTo(exitCode));
        });
    }

    [Test]
    public async Task SignalExitCode_0_reports_a_clean_signal_shutdown_as_success()
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals, new SignalHostOptions { SignalExitCode = 0 });
        host.AddStartupJob(() => signals.Raise(PosixSignal.SIGTERM));

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.That(result.ExitCode, Is.Zero);
    }

    [Test]
    public async Task In_app_request_is_a_distinct_cause_with_exit_code_252_and_its_reason()
    {
        SignalHost host = FakeSignals.Host(out _);
        ShutdownCause? seen = null;
        host.AddShutdownCallback(cause => seen = cause);
        host.AddStartupJob(() => Assert.That(host.RequestShutdown("the queue is empty"), Is.True));

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(seen, Is.SameAs(result.Cause));
            Assert.That(result.Cause.Kind, Is.EqualTo(ShutdownCauseKind.Requested));
            Assert.That(result.Cause.Signal, Is.Null);
            Assert.That(result.Cause.Reason, Is.EqualTo("the queue is empty"));
            Assert.That(result.ExitCode, Is.EqualTo(252).And.EqualTo(SignalHostOptions.DefaultRequestedExitCode));
            Assert.That(result.ToString(), Does.StartWith("shut down on request: the queue is empty (exit code 252) in "));
        });
    }

    [Test]
    public async Task In_app_request_with_an_exit_code_returns_that_code_and_RequestedExitCode_changes_the_default()
    {
        SignalHost zero = FakeSignals.Host(out _);
        zero.RequestShutdown("batch finished", 0);
        SignalHost custom = FakeSignals.Host(out _, new SignalHostOptions { RequestedExitCode = 3 });
        custom.RequestShutdown();

        Assert.That((await zero.RunAsync().WaitAsync(Bound)).ExitCode, Is.Zero);
        Assert.That((await custom.RunAsync().WaitAsync(Bound)).ExitCode, Is.EqualTo(3));
    }

    [Test]
    public async Task RequestShutdown_before_the_run_is_remembered_and_the_run_shuts_down_after_its_startup_jobs()
    {
        SignalHost host = FakeSignals.Host(out _);
        var log = new Log();
        host.AddStartupJob(() => log.Add($"startup, shutdown requested: {host.ShutdownRequested.IsCancellationRequested}"));
        host.AddShutdownCallback(_ => log.Add("callback"));

        Assert.That(host.RequestShutdown(), Is.True);
        Assert.That(host.ShutdownRequested.IsCancellationRequested, Is.True);
        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.That(log.Entries, Is.EqualTo(new[] { "startup, shutdown requested: True", "callback" }));
        Assert.That(result.Cause.Reason, Is.EqualTo("RequestShutdown() was called"));
    }

    [Test]
    public async Task Only_the_first_request_or_signal_is_the_cause_and_later_requests_return_false()
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals);
        var answers = new List<bool>();
        host.AddStartupJob(() =>
        {
            answers.Add(host.RequestShutdown("first"));
            answers.Add(host.RequestShutdown("second"));
            signals.Raise(PosixSignal.SIGTERM); // the first signal joins the shutdown; it does not force an exit
        });
        host.AddShutdownCallback(_ => answers.Add(host.RequestShutdown("from a callback")));

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.That(answers, Is.EqualTo(new[] { true, false, false }));
        Assert.That(result.Cause.Reason, Is.EqualTo("first"));
        Assert.That(host.RequestShutdown("after the run"), Is.False);
    }

    [Test]
    public async Task Cancelling_the_run_token_requests_the_shutdown_as_an_in_app_request()
    {
        SignalHost host = FakeSignals.Host(out _);
        using var cts = new CancellationTokenSource();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var callbackRan = false;
        host.AddStartupJob(ready.SetResult);
        host.AddShutdownCallback(_ => callbackRan = true);

        Task<SignalHostResult> run = host.RunAsync(cts.Token);
        await ready.Task.WaitAsync(Bound);
        await cts.CancelAsync();
        SignalHostResult result = await run.WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(callbackRan, Is.True, "cancelling the token shuts down gracefully; it does not abandon the shutdown");
            Assert.That(result.Cause.Kind, Is.EqualTo(ShutdownCauseKind.Requested));
            Assert.That(result.Cause.Reason, Does.Contain("cancellation token"));
            Assert.That(result.ExitCode, Is.EqualTo(252));
        });
    }

    [Test]
    public void An_already_cancelled_token_runs_the_startup_jobs_then_shuts_down_at_once()
    {
        SignalHost host = FakeSignals.Host(out _);
        var log = new Log();
        host.AddStartupJob(() => log.Add("startup"));
        host.AddJoin(() => log.Add("join"));

        SignalHostResult result = host.Run(new CancellationToken(canceled: true));

        Assert.That(log.Entries, Is.EqualTo(new[] { "startup", "join" }));
        Assert.That(result.Cause.Kind, Is.EqualTo(ShutdownCauseKind.Requested));
    }

    [Test]
    public async Task A_host_runs_once()
    {
        SignalHost host = FakeSignals.Host(out _);
        host.RequestShutdown();
        await host.RunAsync().WaitAsync(Bound);

        Assert.Throws<InvalidOperationException>(() => host.Run());
        await Assert.ThrowsAsync<InvalidOperationException>(() => host.RunAsync());
    }

    [Test]
    public async Task Steps_can_be_added_from_startup_jobs_but_not_once_the_shutdown_has_started()
    {
        SignalHost host = FakeSignals.Host(out _);
        var log = new Log();
        var worker = new Thread(() => Thread.Sleep(10)); // real time: a worker that is still running when its join starts
        host.AddStartupJob(() =>
        {
            host.AddStartupJob(() => log.Add("startup added by a startup job"));
            worker.Start();
            host.AddJoin(worker);
            host.AddShutdownCallback(_ => log.Add("callback added by a startup job"));
        });
        host.AddShutdownCallback(_ =>
        {
            Assert.Throws<InvalidOperationException>(() => host.AddJoin(() => { }));
            Assert.Throws<InvalidOperationException>(() => host.AddShutdownCallback(_ => { }));
            Assert.Throws<InvalidOperationException>(() => host.AddReloadCallback(_ => { }));
            Assert.Throws<InvalidOperationException>(() => host.AddStartupJob(() => { }));
            Assert.Throws<InvalidOperationException>(() => host.Handle(PosixSignal.SIGHUP, SignalAction.Reload));
            log.Add("additions rejected");
        });
        host.AddStartupJob(() => host.RequestShutdown());

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.That(result.IsClean, Is.True, string.Join("; ", result.Faults));
        Assert.That(log.Entries, Is.EqualTo(new[] { "startup added by a startup job", "additions rejected", "callback added by a startup job" }));
        Assert.That(worker.IsAlive, Is.False, "the join a startup job added waited for the worker");
    }

    [Test]
    public async Task Startup_jobs_cannot_be_added_once_the_startup_has_finished()
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals).Handle(PosixSignal.SIGHUP, SignalAction.Reload);
        Exception? rejection = null;
        host.AddStartupJob(() => signals.Raise(PosixSignal.SIGHUP)); // a reload runs only once the startup has finished
        host.AddReloadCallback(_ =>
        {
            rejection = Assert.Throws<InvalidOperationException>(() => host.AddStartupJob(() => { }));
            host.AddJoin(() => { }); // joins and callbacks are still welcome
            host.RequestShutdown();
        });

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.That(rejection, Is.Not.Null);
        Assert.That(result.IsClean, Is.True);
    }

    [Test]
    public async Task Async_lambdas_bind_to_the_Task_overloads_so_the_host_awaits_them()
    {
        SignalHost host = FakeSignals.Host(out _);
        var log = new Log();
        host.AddStartupJob(async () =>
        {
            await Task.Delay(20);
            log.Add("startup");
        });
        host.AddShutdownCallback(async _ =>
        {
            await Task.Delay(20);
            log.Add("callback");
        });
        host.AddJoin(async () =>
        {
            await Task.Delay(20);
            log.Add("join");
        });
        host.RequestShutdown();

        await host.RunAsync().WaitAsync(Bound);

        Assert.That(log.Entries, Is.EqualTo(new[] { "startup", "callback", "join" }));
    }

    [Test]
    public async Task Result_and_fault_describe_themselves_for_logs()
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals);
        host.AddStartupJob(() => signals.Raise(PosixSignal.SIGTERM));
        host.AddJoin(() => throw new InvalidOperationException("disk full"));

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(result.Cause.ToString(), Is.EqualTo("SIGTERM (exit code 143)"));
            Assert.That(result.Faults[0].ToString(), Is.EqualTo("Join 0: InvalidOperationException: disk full"));
            Assert.That(result.ToString(), Does.StartWith("shut down on SIGTERM (exit code 143) in ").And.EndWith("exit code 1, 1 fault"));
        });
    }
}
