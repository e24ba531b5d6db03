using System.Runtime.InteropServices;

namespace AsyncUtils.Tests;

/// <summary>What a throwing step does: recorded, the rest still run, the handlers still removed, the exit code says so.</summary>
public sealed class SignalHostFaultTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Throwing_callbacks_and_joins_are_recorded_in_order_and_every_other_step_still_runs()
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals);
        var log = new Log();
        var callbackError = new InvalidOperationException("callback 0");
        var joinError = new IOException("join 1");
        host.AddShutdownCallback(_ => throw callbackError);
        host.AddShutdownCallback(_ => log.Add("callback 1"));
        host.AddShutdownCallback(async _ =>
        {
            await Task.Yield();
            throw new FormatException("callback 2");
        });
        host.AddJoin(() => log.Add("join 0"));
        host.AddJoin(() => Task.FromException(joinError));
        host.AddJoin(() => log.Add("join 2"));
        host.AddStartupJob(() => signals.Raise(PosixSignal.SIGINT));

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.That(log.Entries, Is.EqualTo(new[] { "callback 1", "join 0", "join 2" }));
        Assert.That(result.Faults.Select(f => (f.Phase, f.Index)), Is.EqualTo(new[]
        {
            (SignalHostPhase.ShutdownCallback, 0),
            (SignalHostPhase.ShutdownCallback, 2),
            (SignalHostPhase.Join, 1),
        }));
        Assert.Multiple(() =>
        {
            Assert.That(result.Faults[0].Exception, Is.SameAs(callbackError));
            Assert.That(result.Faults[1].Exception, Is.TypeOf<FormatException>());
            Assert.That(result.Faults[2].Exception, Is.SameAs(joinError));
            Assert.That(result.IsClean, Is.False);
            Assert.That(result.Cause.ExitCode, Is.EqualTo(130), "the cause still says what arrived");
            Assert.That(result.ExitCode, Is.EqualTo(1), "a fault turns the exit code into FaultExitCode");
            Assert.That(signals.Active, Is.Empty, "the handlers are removed even though steps threw");
        });
    }

    [Test]
    public async Task FaultExitCode_sets_the_exit_code_of_a_run_with_faults()
    {
        SignalHost host = FakeSignals.Host(out _, new SignalHostOptions { FaultExitCode = 70 });
        host.AddJoin(() => throw new InvalidOperationException());
        host.RequestShutdown("done", 0);

        Assert.That((await host.RunAsync().WaitAsync(Bound)).ExitCode, Is.EqualTo(70));
    }

    [Test]
    public async Task A_task_that_fails_with_several_exceptions_is_recorded_as_one_aggregate()
    {
        SignalHost host = FakeSignals.Host(out _);
        Task both = Task.WhenAll(Task.FromException(new InvalidOperationException("a")), Task.FromException(new FormatException("b")));
        host.AddJoin(both);
        host.RequestShutdown();

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        var aggregate = (AggregateException)result.Faults.Single().Exception;
        Assert.That(aggregate.InnerExceptions.Select(e => e.Message), Is.EquivalentTo(new[] { "a", "b" }));
    }

    [Test]
    public async Task A_cancelled_join_task_and_a_null_task_are_faults()
    {
        SignalHost host = FakeSignals.Host(out _);
        host.AddJoin(Task.FromCanceled(new CancellationToken(canceled: true)));
        host.AddJoin(() => (Task)null!);
        host.RequestShutdown();

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.That(result.Faults.Select(f => f.Exception.GetType()), Is.EqualTo(new[] { typeof(TaskCanceledException), typeof(InvalidOperationException) }));
    }

    [Test]
    public async Task A_failed_startup_job_skips_the_rest_of_the_startup_and_shuts_down_at_once()
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals);
        var log = new Log();
        host.AddStartupJob(() => log.Add("startup 0"));
        host.AddStartupJob(async () =>
        {
            await Task.Yield();
            throw new InvalidOperationException("no database");
        });
        host.AddStartupJob(() => log.Add("startup 2"));
        host.AddShutdownCallback(cause => log.Add($"callback {cause.Kind}: {cause.Reason}"));
        host.AddJoin(() => log.Add("join 0"));

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.That(log.Entries, Is.EqualTo(new[]
        {
            "startup 0",
            "callback StartupFailed: startup job 1 threw InvalidOperationException: no database",
            "join 0",
        }));
        Assert.Multiple(() =>
        {
            Assert.That(result.Cause.Kind, Is.EqualTo(ShutdownCauseKind.StartupFailed));
            Assert.That(result.Faults.Single().Phase, Is.EqualTo(SignalHostPhase.StartupJob));
            Assert.That(result.Faults.Single().Index, Is.EqualTo(1));
            Assert.That(result.ExitCode, Is.EqualTo(1));
            Assert.That(host.ShutdownRequested.IsCancellationRequested, Is.True);
            Assert.That(signals.Active, Is.Empty);
        });
    }

    [Test]
    public async Task A_startup_job_cancelled_because_the_shutdown_was_requested_is_not_a_fault_and_the_startup_goes_on()
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals);
        var log = new Log();
        host.AddStartupJob(() => signals.Raise(PosixSignal.SIGTERM));
        host.AddStartupJob(() => Task.Delay(Timeout.Infinite, host.ShutdownRequested));
        host.AddStartupJob(() => log.Add($"startup 2 sees the request: {host.ShutdownRequested.IsCancellationRequested}"));
        host.AddShutdownCallback(_ => log.Add("callback"));

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.That(log.Entries, Is.EqualTo(new[] { "startup 2 sees the request: True", "callback" }));
        Assert.That(result.IsClean, Is.True);
        Assert.That(result.ExitCode, Is.EqualTo(143));
    }

    [Test]
    public async Task A_shutdown_callback_that_throws_OperationCanceledException_is_a_fault()
    {
        SignalHost host = FakeSignals.Host(out _);
        host.AddShutdownCallback(_ => throw new OperationCanceledException());
        host.RequestShutdown();

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.That(result.Faults.Single().Exception, Is.TypeOf<OperationCanceledException>());
    }

    [Test]
    public async Task A_handler_whose_removal_throws_is_recorded_and_the_other_handlers_are_still_removed()
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals);
        var error = new IOException("cannot restore");
        signals.FailRemovalOf = (PosixSignal.SIGINT, error);
        host.RequestShutdown();

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(result.Faults.Single().Phase, Is.EqualTo(SignalHostPhase.HandlerRemoval));
            Assert.That(result.Faults.Single().Index, Is.EqualTo(-1));
            Assert.That(result.Faults.Single().Exception, Is.SameAs(error));
            Assert.That(signals.Removed, Is.EquivalentTo(new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM }));
        });
    }

    [Test]
    public void A_handler_that_cannot_be_installed_fails_the_run_before_any_step_and_removes_those_installed()
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals).Handle(PosixSignal.SIGQUIT, SignalAction.Shutdown);
        var error = new PlatformNotSupportedException();
        signals.FailOn = (PosixSignal.SIGQUIT, error);
        var ran = false;
        host.AddStartupJob(() => ran = true);

        var thrown = Assert.Throws<PlatformNotSupportedException>(() => host.Run());

        Assert.Multiple(() =>
        {
            Assert.That(thrown, Is.SameAs(error));
            Assert.That(ran, Is.False);
            Assert.That(signals.Active, Is.Empty);
            Assert.That(signals.Removed, Is.EquivalentTo(new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM }));
        });
        Assert.Throws<InvalidOperationException>(() => host.Run());
    }

    [Test]
    public async Task ShutdownRequested_callbacks_run_off_the_requesting_thread_finish_before_the_first_callback_and_their_faults_are_recorded()
    {
        SignalHost host = FakeSignals.Host(out _);
        var log = new Log();
        int requester = -1;
        int tokenCallbackThread = -1;
        host.ShutdownRequested.Register(() =>
        {
            tokenCallbackThread = Environment.CurrentManagedThreadId;
            Thread.Sleep(20); // real time: the host must wait for this before the first shutdown callback
            log.Add("token callback");
            throw new InvalidOperationException("token callback failed");
        });
        host.AddShutdownCallback(_ => log.Add("callback 0"));
        host.AddStartupJob(() =>
        {
            requester = Environment.CurrentManagedThreadId;
            host.RequestShutdown();
        });

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.That(log.Entries, Is.EqualTo(new[] { "token callback", "callback 0" }));
        Assert.Multiple(() =>
        {
            Assert.That(tokenCallbackThread, Is.Not.EqualTo(requester));
            Assert.That(result.Faults.Single().Phase, Is.EqualTo(SignalHostPhase.ShutdownRequestedToken));
            Assert.That(result.Faults.Single().Exception, Is.TypeOf<InvalidOperationException>());
        });
    }

    [Test]
    public async Task A_reload_callback_that_throws_is_recorded_and_the_host_keeps_running()
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals).Handle(PosixSignal.SIGHUP, SignalAction.Reload);
        var log = new Log();
        host.AddReloadCallback(_ => throw new InvalidOperationException("bad config"));
        host.AddReloadCallback(signal =>
        {
            log.Add($"reload 1 {signal}");
            host.RequestShutdown();
        });
        host.AddStartupJob(() => signals.Raise(PosixSignal.SIGHUP));

        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.That(log.Entries, Is.EqualTo(new[] { "reload 1 SIGHUP" }));
        Assert.That(result.Faults.Single().Phase, Is.EqualTo(SignalHostPhase.ReloadCallback));
        Assert.That(result.ExitCode, Is.EqualTo(1), "a fault anywhere in the run, reloads included, makes the exit code the fault code");
    }
}
