using System.Runtime.InteropServices;

namespace AsyncUtils.Tests;

public sealed class SignalHostArgumentTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Test]
    public void Options_out_of_range_are_rejected_naming_the_option()
    {
        static string? ParamName(SignalHostOptions options) =>
            Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SignalHost(options))!.ParamName;

        Assert.Multiple(() =>
        {
            Assert.That(ParamName(new() { ShutdownTimeout = TimeSpan.FromMilliseconds(-2) }), Is.EqualTo("options.ShutdownTimeout"));
            Assert.That(ParamName(new() { ShutdownTimeout = TimeSpan.FromDays(60) }), Is.EqualTo("options.ShutdownTimeout"));
            Assert.That(ParamName(new() { SignalExitCode = 256 }), Is.EqualTo("options.SignalExitCode"));
            Assert.That(ParamName(new() { SignalExitCode = -1 }), Is.EqualTo("options.SignalExitCode"));
            Assert.That(ParamName(new() { RequestedExitCode = 300 }), Is.EqualTo("options.RequestedExitCode"));
            Assert.That(ParamName(new() { FaultExitCode = -1 }), Is.EqualTo("options.FaultExitCode"));
        });
    }

    [Test]
    public void Infinite_and_zero_timeouts_are_accepted()
    {
        Assert.DoesNotThrow(() => _ = new SignalHost(new SignalHostOptions { ShutdownTimeout = Timeout.InfiniteTimeSpan }));
        Assert.DoesNotThrow(() => _ = new SignalHost(new SignalHostOptions { ShutdownTimeout = TimeSpan.Zero }));
        var host = new SignalHost();
        Assert.DoesNotThrow(() => host.AddJoin(Task.CompletedTask, TimeSpan.Zero));
        Assert.DoesNotThrow(() => host.AddJoin(Task.CompletedTask, Timeout.InfiniteTimeSpan));
    }

    [Test]
    public void Null_delegates_and_reasons_are_rejected_naming_the_argument()
    {
        var host = new SignalHost();
        Assert.Multiple(() =>
        {
            Assert.That(Assert.Throws<ArgumentNullException>(() => host.AddStartupJob((Action)null!))!.ParamName, Is.EqualTo("job"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => host.AddStartupJob((Func<Task>)null!))!.ParamName, Is.EqualTo("job"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => host.AddShutdownCallback((Action<ShutdownCause>)null!))!.ParamName, Is.EqualTo("callback"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => host.AddShutdownCallback((Func<ShutdownCause, Task>)null!))!.ParamName, Is.EqualTo("callback"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => host.AddReloadCallback((Action<PosixSignal>)null!))!.ParamName, Is.EqualTo("callback"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => host.AddReloadCallback((Func<PosixSignal, Task>)null!))!.ParamName, Is.EqualTo("callback"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => host.AddJoin((Action)null!))!.ParamName, Is.EqualTo("join"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => host.AddJoin((Func<Task>)null!))!.ParamName, Is.EqualTo("join"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => host.AddJoin((Func<Task>)null!, TimeSpan.Zero))!.ParamName, Is.EqualTo("join"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => host.AddJoin((Func<CancellationToken, Task>)null!, TimeSpan.Zero))!.ParamName, Is.EqualTo("join"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => host.AddJoin((Thread)null!))!.ParamName, Is.EqualTo("thread"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => host.AddJoin((Thread)null!, TimeSpan.Zero))!.ParamName, Is.EqualTo("thread"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => host.AddJoin((Task)null!))!.ParamName, Is.EqualTo("task"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => host.AddJoin((Task)null!, TimeSpan.Zero))!.ParamName, Is.EqualTo("task"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => host.RequestShutdown(null!))!.ParamName, Is.EqualTo("reason"));
            Assert.That(Assert.Throws<ArgumentNullException>(() => host.RequestShutdown(null!, 0))!.ParamName, Is.EqualTo("reason"));
        });
    }

    [Test]
    public void Join_timeouts_out_of_range_are_rejected_naming_the_argument()
    {
        var host = new SignalHost();
        TimeSpan negative = TimeSpan.FromMilliseconds(-2);
        Assert.Multiple(() =>
        {
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => host.AddJoin(Task.CompletedTask, negative))!.ParamName, Is.EqualTo("timeout"));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => host.AddJoin(() => Task.CompletedTask, negative))!.ParamName, Is.EqualTo("timeout"));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => host.AddJoin(_ => Task.CompletedTask, TimeSpan.FromDays(60)))!.ParamName, Is.EqualTo("timeout"));
            Assert.That(Assert.Throws<ArgumentOutOfRangeException>(() => host.AddJoin(new Thread(() => { }), negative))!.ParamName, Is.EqualTo("timeout"));
        });
    }

    [TestCase((PosixSignal)(-5), TestName = "Handle_rejects_SIGCHLD")]
    [TestCase((PosixSignal)(-10), TestName = "Handle_rejects_SIGTSTP")]
    [TestCase((PosixSignal)(-7), TestName = "Handle_rejects_SIGWINCH")]
    [TestCase((PosixSignal)0)]
    [TestCase((PosixSignal)(-100))]
    public void Handle_rejects_signals_that_are_not_shutdown_signals_or_raw_numbers(PosixSignal signal)
    {
        var host = new SignalHost();
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => host.Handle(signal, SignalAction.Shutdown));
        Assert.That(ex!.ParamName, Is.EqualTo("signal"));
    }

    [Test]
    public void Handle_rejects_an_undefined_action()
    {
        var host = new SignalHost();
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => host.Handle(PosixSignal.SIGHUP, (SignalAction)7));
        Assert.That(ex!.ParamName, Is.EqualTo("action"));
    }

    [TestCase(-1)]
    [TestCase(256)]
    public void RequestShutdown_rejects_an_exit_code_outside_0_to_255(int exitCode)
    {
        var host = new SignalHost();
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => host.RequestShutdown("reason", exitCode));
        Assert.That(ex!.ParamName, Is.EqualTo("exitCode"));
    }

    [Test]
    public async Task A_host_that_rejected_bad_input_still_runs_normally()
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals);
        Assert.Throws<ArgumentNullException>(() => host.AddJoin((Action)null!));
        Assert.Throws<ArgumentOutOfRangeException>(() => host.Handle((PosixSignal)(-5), SignalAction.Reload));
        Assert.Throws<ArgumentOutOfRangeException>(() => host.RequestShutdown("x", 1000));
        var joined = false;
        host.AddJoin(() => joined = true);

        Assert.That(host.RequestShutdown("done", 0), Is.True);
        SignalHostResult result = await host.RunAsync().WaitAsync(Bound);

        Assert.Multiple(() =>
        {
            Assert.That(joined, Is.True);
            Assert.That(result.ExitCode, Is.Zero);
            Assert.That(result.IsClean, Is.True);
            Assert.That(signals.Active, Is.Empty);
        });
    }
}
