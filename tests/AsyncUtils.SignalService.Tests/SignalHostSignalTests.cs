using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace AsyncUtils.Tests;

/// <summary>Second signals, reload and ignore actions, and the Windows-style hold, through the host's handler.</summary>
public sealed class SignalHostSignalTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    /// <summary>A host whose first shutdown callback blocks until released, so that signals can arrive during the shutdown.</summary>
    private sealed class StuckShutdown : IDisposable
    {
        private readonly ManualResetEventSlim _release = new();

        public StuckShutdown(SignalHostOptions? options = null)
        {
            options ??= new SignalHostOptions();
            options.ForceExit = ForcedExits.Enqueue;
            Host = FakeSignals.Host(out FakeSignals signals, options);
            Signals = signals;
            Host.AddShutdownCallback(_ =>
            {
                Entered.TrySetResult();
                Assert.That(_release.Wait(Bound), Is.True);
            });
            Host.AddJoin(() => Joined = true);
        }

        public SignalHost Host { get; }

        public FakeSignals Signals { get; }

        public ConcurrentQueue<int> ForcedExits { get; } = new();

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Joined { get; private set; }

        public void Release() => _release.Set();

        /// <summary>
        /// Runs the host on the thread pool: RunAsync, like any async method, runs synchronously
        /// until its first real await, and here a shutdown callback blocks.
        /// </summary>
        public Task<SignalHostResult> Start() => Task.Run(() => Host.RunAsync());

        public void Dispose()
        {
            _release.Set();
            _release.Dispose();
        }
    }

    [Test]
    public async Task A_second_shutdown_signal_forces_the_exit_with_128_plus_its_number_and_every_later_one_too()
    {
        using var stuck = new StuckShutdown();
        stuck.Host.AddStartupJob(() => stuck.Signals.Raise(PosixSignal.SIGINT));
        Task<SignalHostResult> run = stuck.Start();
        await stuck.Entered.Task.WaitAsync(Bound);
        Assert.That(stuck.ForcedExits, Is.Empty, "the first signal starts the shutdown; it does not force anything");

        Assert.That(stuck.Signals.Raise(PosixSignal.SIGINT), Is.True);
        Assert.That(stuck.ForcedExits, Is.EqualTo(new[] { 130 }));
        stuck.Signals.Raise(PosixSignal.SIGTERM);
        Assert.That(stuck.ForcedExits, Is.EqualTo(new[] { 130, 143 }));

        // Here ForceExit only recorded the call, so the shutdown goes on when released.
        stuck.Release();
        SignalHostResult result = await run.WaitAsync(Bound);
        Assert.That(result.Cause.Signal, Is.EqualTo(PosixSignal.SIGINT));
        Assert.That(stuck.Joined, Is.True);
    }

    [Test]
    public async Task With_ForceExitOnSecondSignal_off_further_signals_are_swallowed()
    {
        using var stuck = new StuckShutdown(new SignalHostOptions { ForceExitOnSecondSignal = false });
        stuck.Host.AddStartupJob(() => stuck.Signals.Raise(PosixSignal.SIGTERM));
        Task<SignalHostResult> run = stuck.Start();
        await stuck.Entered.Task.WaitAsync(Bound);

        Assert.That(stuck.Signals.Raise(PosixSignal.SIGTERM), Is.True, "the default action stays cancelled");
        Assert.That(stuck.Signals.Raise(PosixSignal.SIGINT), Is.True);

        stuck.Release();
        await run.WaitAsync(Bound);
        Assert.That(stuck.ForcedExits, Is.Empty);
    }

    [Test]
    public async Task After_an_in_app_request_the_first_signal_joins_the_shutdown_and_the_second_forces_the_exit()
    {
        using var stuck = new StuckShutdown();
        stuck.Host.RequestShutdown();
        Task<SignalHostResult> run = stuck.Start();
        await stuck.Entered.Task.WaitAsync(Bound);

        stuck.Signals.Raise(PosixSignal.SIGTERM);
        Assert.That(stuck.ForcedExits, Is.Empty);
        stuck.Signals.Raise(PosixSignal.SIGINT);
        Assert.That(stuck.ForcedExits, Is.EqualTo(new[] { 130 }));

        stuck.Release();
        Assert.That((await run.WaitAsync(Bound)).Cause.Kind, Is.EqualTo(ShutdownCauseKind.Requested));
    }

    [Test]
    public async Task A_second_shutdown_signal_during_the_startup_forces_the_exit()
    {
        var forced = new ConcurrentQueue<int>();
        SignalHost host = FakeSignals.Host(out FakeSignals signals, new SignalHostOptions { ForceExit = forced.Enqueue });
        host.AddStartupJob(() =>
        {
            signals.Raise(PosixSignal.SIGTERM);
            signals.Raise(PosixSignal.SIGTERM);
        });

        await host.RunAsync().WaitAsync(Bound);

        Assert.That(forced, Is.EqualTo(new[] { 143 }));
    }

    [Test]
    public async Task Reload_and_ignore_signals_during_the_shutdown_neither_reload_nor_count_towards_a_forced_exit()
    {
        using var stuck = new StuckShutdown();
        var reloads = 0;
        stuck.Host.Handle(PosixSignal.SIGHUP, SignalAction.Reload).Handle(PosixSignal.SIGQUIT, SignalAction.Ignore);
        stuck.Host.AddReloadCallback(_ => reloads++);
        stuck.Host.AddStartupJob(() => stuck.Signals.Raise(PosixSignal.SIGTERM));
        Task<SignalHostResult> run = stuck.Start();
        await stuck.Entered.Task.WaitAsync(Bound);

        Assert.That(stuck.Signals.Raise(PosixSignal.SIGHUP), Is.True);
        Assert.That(stuck.Signals.Raise(PosixSignal.SIGQUIT), Is.True);
        stuck.Release();
        await run.WaitAsync(Bound);

        Assert.That(reloads, Is.Zero);
        Assert.That(stuck.ForcedExits, Is.Empty);
    }

    [Test]
    public async Task SIGHUP_with_the_Reload_action_calls_the_reload_callbacks_in_order_and_the_host_keeps_running()
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals).Handle(PosixSignal.SIGHUP, SignalAction.Reload);
        var log = new Log();
        var reloaded = new SemaphoreSlim(0);
        host.AddReloadCallback(signal => log.Add($"reload 0 {signal}"));
        host.AddReloadCallback(async signal =>
        {
            await Task.Yield();
            log.Add($"reload 1 {signal}");
            reloaded.Release();
        });
        host.AddShutdownCallback(cause => log.Add($"callback {cause.Signal}"));

        Task<SignalHostResult> run = host.RunAsync();
        Assert.That(signals.Raise(PosixSignal.SIGHUP), Is.True);
        Assert.That(await reloaded.WaitAsync(Bound), Is.True);
        Assert.That(run.IsCompleted, Is.False, "a reload does not end the run");
        signals.Raise(PosixSignal.SIGHUP);
        Assert.That(await reloaded.WaitAsync(Bound), Is.True);
        signals.Raise(PosixSignal.SIGTERM);
        SignalHostResult result = await run.WaitAsync(Bound);

        Assert.That(log.Entries, Is.EqualTo(new[] { "reload 0 SIGHUP", "reload 1 SIGHUP", "reload 0 SIGHUP", "reload 1 SIGHUP", "callback SIGTERM" }));
        Assert.That(result.ExitCode, Is.EqualTo(143));
    }

    [Test]
    public async Task Reload_signals_arriving_during_a_reload_are_merged_into_one_more_reload()
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals).Handle(PosixSignal.SIGHUP, SignalAction.Reload);
        using var release = new ManualResetEventSlim();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int reloads = 0;
        host.AddReloadCallback(_ =>
        {
            if (++reloads == 1)
            {
                entered.SetResult();
                Assert.That(release.Wait(Bound), Is.True);
            }
            else
            {
                host.RequestShutdown();
            }
        });

        Task<SignalHostResult> run = host.RunAsync();
        signals.Raise(PosixSignal.SIGHUP);
        await entered.Task.WaitAsync(Bound);
        signals.Raise(PosixSignal.SIGHUP);
        signals.Raise(PosixSignal.SIGHUP);
        signals.Raise(PosixSignal.SIGHUP);
        release.Set();
        SignalHostResult result = await run.WaitAsync(Bound);

        Assert.That(reloads, Is.EqualTo(2));
        Assert.That(result.IsClean, Is.True);
    }

    [Test]
    public async Task A_shutdown_requested_during_a_reload_skips_the_remaining_reload_callbacks()
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals).Handle(PosixSignal.SIGHUP, SignalAction.Reload);
        var log = new Log();
        host.AddReloadCallback(_ =>
        {
            log.Add("reload 0");
            signals.Raise(PosixSignal.SIGTERM);
        });
        host.AddReloadCallback(_ => log.Add("reload 1"));
        host.AddShutdownCallback(_ => log.Add("callback"));
        host.AddStartupJob(() => signals.Raise(PosixSignal.SIGHUP));

        await host.RunAsync().WaitAsync(Bound);

        Assert.That(log.Entries, Is.EqualTo(new[] { "reload 0", "callback" }));
    }

    [Test]
    public async Task An_ignored_signal_is_swallowed_and_changes_nothing()
    {
        SignalHost host = FakeSignals.Host(out FakeSignals signals).Handle(PosixSignal.SIGINT, SignalAction.Ignore);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        host.AddStartupJob(ready.SetResult);
        Task<SignalHostResult> run = host.RunAsync();
        await ready.Task.WaitAsync(Bound);

        Assert.That(signals.Raise(PosixSignal.SIGINT), Is.True, "the process does not die");
        Assert.That(signals.Raise(PosixSignal.SIGINT), Is.True, "and a second one does not force an exit");
        Assert.That(host.ShutdownRequested.IsCancellationRequested, Is.False);

        host.RequestShutdown();
        Assert.That((await run.WaitAsync(Bound)).Cause.Kind, Is.EqualTo(ShutdownCauseKind.Requested));
    }

    [Test]
    public async Task A_signal_that_arrives_after_the_run_is_swallowed_without_effect()
    {
        var forced = new ConcurrentQueue<int>();
        SignalHost host = FakeSignals.Host(out _, new SignalHostOptions { ForceExit = forced.Enqueue });
        host.RequestShutdown();
        await host.RunAsync().WaitAsync(Bound);

        // A handler invocation already under way when the handlers were removed.
        var context = new PosixSignalContext(PosixSignal.SIGINT);
        host.OnSignal(context);
        host.OnSignal(new PosixSignalContext(PosixSignal.SIGINT));

        Assert.That(forced, Is.Empty);
        Assert.That(context.Cancel, Is.True);
    }

    [Test]
    public async Task Where_termination_signals_end_the_process_when_the_handler_returns_the_handler_holds_until_the_shutdown_has_finished()
    {
        // Windows ends the process once a CTRL_CLOSE or CTRL_SHUTDOWN handler returns; the host then
        // holds the SIGHUP/SIGTERM handler until its shutdown is done. Switched on here to test it on any OS.
        using var stuck = new StuckShutdown();
        stuck.Host.HoldTerminationSignals = true;
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        stuck.Host.AddStartupJob(ready.SetResult);
        Task<SignalHostResult> run = stuck.Start();
        await ready.Task.WaitAsync(Bound);

        Task<bool> handler = Task.Run(() => stuck.Signals.Raise(PosixSignal.SIGTERM));
        await stuck.Entered.Task.WaitAsync(Bound);
        Assert.That(handler.IsCompleted, Is.False, "the handler is held while the shutdown runs");

        stuck.Release();
        await run.WaitAsync(Bound);
        Assert.That(await handler.WaitAsync(Bound), Is.True);
        Assert.That(stuck.Joined, Is.True);
    }

    [Test]
    public async Task Ctrl_C_is_not_held_even_where_termination_signals_are()
    {
        using var stuck = new StuckShutdown();
        stuck.Host.HoldTerminationSignals = true;
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        stuck.Host.AddStartupJob(ready.SetResult);
        Task<SignalHostResult> run = stuck.Start();
        await ready.Task.WaitAsync(Bound);

        Assert.That(await Task.Run(() => stuck.Signals.Raise(PosixSignal.SIGINT)).WaitAsync(Bound), Is.True);
        await stuck.Entered.Task.WaitAsync(Bound);

        stuck.Release();
        await run.WaitAsync(Bound);
    }
}
