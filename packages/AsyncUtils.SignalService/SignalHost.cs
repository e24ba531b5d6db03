using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace AsyncUtils;

/// <summary>
/// Runs a console worker process's lifecycle around OS signals: installs handlers for SIGINT and
/// SIGTERM (and any signal given to <see cref="Handle"/>), runs the startup jobs in order, waits
/// until a shutdown signal or an in-app <see cref="RequestShutdown()"/> arrives, then calls every
/// shutdown callback in order with the <see cref="ShutdownCause"/>, then every join in order,
/// removes its handlers, and returns a <see cref="SignalHostResult"/> whose
/// <see cref="SignalHostResult.ExitCode"/> <c>Main</c> returns. This is
/// <c>SignalService</c> of the Python library async-utils, named apart from its namespace.
/// </summary>
/// <remarks>
/// <para>
/// <b>Signals.</b> The handlers are installed when <see cref="Run"/> or <see cref="RunAsync"/>
/// starts (before the first startup job) and removed when it returns, whatever happened. While
/// they are installed a handled signal never kills the process: the OS default is cancelled and
/// the signal's <see cref="SignalAction"/> runs instead. The first shutdown signal starts the
/// shutdown; a second one forces the process to exit with 128 + its number (130 for a second
/// Ctrl+C) unless <see cref="SignalHostOptions.ForceExitOnSecondSignal"/> is off.
/// </para>
/// <para>
/// <b>Threads.</b> Startup jobs, reload callbacks, shutdown callbacks and joins all run one at a
/// time, in the order they were added, on the thread that drives the run: the thread that called
/// <see cref="Run"/>, or, for <see cref="RunAsync"/>, wherever its awaits resume. Nothing runs on
/// the signal handler's thread except <see cref="SignalHostOptions.ForceExit"/>.
/// <see cref="RequestShutdown()"/>, the <c>Add</c> methods and <see cref="ShutdownRequested"/>
/// are safe to use from any thread.
/// </para>
/// <para>
/// <b>Failures.</b> The host never throws what a startup job, callback or join throws: it records
/// a <see cref="SignalHostFault"/>, goes on with the next step, and still removes its handlers.
/// A failed startup job skips the remaining startup jobs and starts the shutdown.
/// </para>
/// <para>A host runs once. Create it, add steps, call <see cref="Run"/> (or <see cref="RunAsync"/>) from <c>Main</c>.</para>
/// </remarks>
[UnsupportedOSPlatform("android")]
[UnsupportedOSPlatform("browser")]
[UnsupportedOSPlatform("ios")]
[UnsupportedOSPlatform("tvos")]
[SuppressMessage(
    "Reliability",
    "CA2213:Disposable fields should be disposed",
    Justification = "The ShutdownRequested source has no timer and no linked token; it holds nothing that needs disposing, and its token must stay usable after the run.")]
[SuppressMessage(
    "Design",
    "CA1001:Types that own disposable fields should be disposable",
    Justification = "The ShutdownRequested source has no timer and no linked token; it holds nothing that needs disposing, and its token must stay usable after the run.")]
public sealed class SignalHost
{
    // Timer-based waits (CancellationTokenSource, Task.WaitAsync) accept at most this many milliseconds.
    private const double MaxTimeoutMilliseconds = uint.MaxValue - 1.0;

    private readonly object _gate = new();
    private readonly Dictionary<PosixSignal, SignalAction> _actions = new()
    {
        [PosixSignal.SIGINT] = SignalAction.Shutdown,
        [PosixSignal.SIGTERM] = SignalAction.Shutdown,
    };

    private readonly List<Func<Task>> _startupJobs = [];
    private readonly List<Func<ShutdownCause, Task>> _shutdownCallbacks = [];
    private readonly List<Func<PosixSignal, Task>> _reloadCallbacks = [];
    private readonly List<JoinStep> _joins = [];
    private readonly CancellationTokenSource _shutdownRequested = new();
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Action<PosixSignalContext> _onSignal;

    private readonly TimeProvider _time;
    private readonly TimeSpan _shutdownTimeout;
    private readonly bool _forceExitOnSecondSignal;
    private readonly Action<int> _forceExit;
    private readonly int? _signalExitCode;
    private readonly int _requestedExitCode;
    private readonly int _faultExitCode;

    // Guarded by _gate.
    private HostState _state;
    private ShutdownCause? _cause;
    private Task _shutdownTokenCallbacks = Task.CompletedTask;
    private int _shutdownSignals;
    private PosixSignal? _pendingReload;
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Written before the handlers are installed, read-only afterwards.
    private Dictionary<PosixSignal, SignalAction>? _activeActions;

    /// <summary>Creates a host that shuts down on SIGINT and SIGTERM, with the default options.</summary>
    public SignalHost()
        : this(null)
    {
    }

    /// <summary>Creates a host that shuts down on SIGINT and SIGTERM.</summary>
    /// <param name="options">Deadlines, exit codes, second-signal behaviour and clock; copied, may be <see langword="null"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <see cref="SignalHostOptions.ShutdownTimeout"/> is negative (other than infinite) or too
    /// large for a timer, or an exit code is outside 0 to 255.
    /// </exception>
    public SignalHost(SignalHostOptions? options)
    {
        options ??= new SignalHostOptions();
        CheckTimeout(options.ShutdownTimeout, "options.ShutdownTimeout");
        if (options.SignalExitCode is int signalExitCode)
        {
            CheckExitCode(signalExitCode, "options.SignalExitCode");
        }

        CheckExitCode(options.RequestedExitCode, "options.RequestedExitCode");
        CheckExitCode(options.FaultExitCode, "options.FaultExitCode");

        _time = options.TimeProvider ?? TimeProvider.System;
        _shutdownTimeout = options.ShutdownTimeout;
        _forceExitOnSecondSignal = options.ForceExitOnSecondSignal;
        _forceExit = options.ForceExit ?? Environment.Exit;
        _signalExitCode = options.SignalExitCode;
        _requestedExitCode = options.RequestedExitCode;
        _faultExitCode = options.FaultExitCode;
        _onSignal = OnSignal;
    }

    private enum HostState
    {
        NotStarted,
        Starting,
        Running,
        ShuttingDown,
        Completed,
    }

    private enum StepOutcome
    {
        Completed,
        Faulted,
        TimedOut,
    }

    /// <summary>
    /// Cancelled the moment a shutdown is requested (by a signal, <see cref="RequestShutdown()"/>,
    /// the run's token or a failed startup job), before the first shutdown callback runs: hand it
    /// to workers, startup jobs and reload callbacks so they stop early. Its callbacks run on a
    /// thread-pool thread, never on the signal handler's or the requester's thread; the host waits
    /// for them (within the shutdown deadline) before calling the first shutdown callback, and
    /// records what they throw as <see cref="SignalHostPhase.ShutdownRequestedToken"/> faults.
    /// </summary>
    public CancellationToken ShutdownRequested => _shutdownRequested.Token;

    /// <summary>
    /// Sets what a signal does: <see cref="SignalAction.Shutdown"/> (SIGINT and SIGTERM do this
    /// by default), <see cref="SignalAction.Reload"/> (call the reload callbacks and keep running,
    /// the usual meaning of SIGHUP) or <see cref="SignalAction.Ignore"/>. Signals never given here
    /// (SIGHUP and SIGQUIT unless asked) keep the operating system's default action.
    /// </summary>
    /// <param name="signal">
    /// <see cref="PosixSignal.SIGINT"/>, <see cref="PosixSignal.SIGTERM"/>, <see cref="PosixSignal.SIGHUP"/>,
    /// <see cref="PosixSignal.SIGQUIT"/>, or on Unix a raw signal number cast to <see cref="PosixSignal"/>
    /// (for example <c>(PosixSignal)10</c>, SIGUSR1 on Linux).
    /// </param>
    /// <param name="action">What the signal does.</param>
    /// <returns>This host, to chain calls.</returns>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <paramref name="signal"/> is another named <see cref="PosixSignal"/> (SIGCHLD, SIGTSTP, ...)
    /// or not positive, or <paramref name="action"/> is not a defined <see cref="SignalAction"/>.
    /// </exception>
    /// <exception cref="InvalidOperationException">The host has already started running; set actions before <see cref="Run"/>.</exception>
    public SignalHost Handle(PosixSignal signal, SignalAction action)
    {
        if (!SignalNumbers.IsSupported(signal))
        {
            throw new ArgumentOutOfRangeException(
                nameof(signal),
                signal,
                "Only SIGHUP, SIGINT, SIGQUIT, SIGTERM and, on Unix, raw signal numbers (a positive number cast to PosixSignal) can be handled.");
        }

        if (!Enum.IsDefined(action))
        {
            throw new ArgumentOutOfRangeException(nameof(action), action, "Not a defined SignalAction.");
        }

        signal = SignalNumbers.Normalize(signal);
        lock (_gate)
        {
            if (_state != HostState.NotStarted)
            {
                throw new InvalidOperationException("Signal actions must be set before the host starts running.");
            }

            _actions[signal] = action;
        }

        return this;
    }

    /// <summary>
    /// Adds a startup job. Startup jobs run in the order they were added, on the run's thread,
    /// after the signal handlers are installed; the host waits for signals once the last one has
    /// returned. A startup job may add more steps, including further startup jobs. If one
    /// throws, the rest are skipped and the host shuts down at once
    /// (<see cref="ShutdownCauseKind.StartupFailed"/>). A shutdown requested during startup is
    /// held until every startup job has run (check <see cref="ShutdownRequested"/> to stop early);
    /// a second shutdown signal during startup forces the exit as usual.
    /// </summary>
    /// <param name="job">The job, for example starting a worker thread.</param>
    /// <returns>This host, to chain calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="job"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The startup has already finished.</exception>
    public SignalHost AddStartupJob(Action job)
    {
        ArgumentNullException.ThrowIfNull(job);
        return AddStartupJobCore(() =>
        {
            job();
            return Task.CompletedTask;
        });
    }

    /// <summary>
    /// Adds an asynchronous startup job; the host awaits it before the next one. See
    /// <see cref="AddStartupJob(Action)"/>. An <see cref="OperationCanceledException"/> it throws
    /// once <see cref="ShutdownRequested"/> is cancelled is not a fault.
    /// </summary>
    /// <param name="job">The job.</param>
    /// <returns>This host, to chain calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="job"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The startup has already finished.</exception>
    public SignalHost AddStartupJob(Func<Task> job)
    {
        ArgumentNullException.ThrowIfNull(job);
        return AddStartupJobCore(job);
    }

    /// <summary>
    /// Adds a shutdown callback (the signal callback of the Python library async-utils). When the shutdown starts, every
    /// shutdown callback is called in the order added, each with the <see cref="ShutdownCause"/>
    /// (the signal, or the in-app request and its reason), before any join. Use it to tell work to
    /// stop: cancel a token, complete a channel, stop accepting connections. If it throws, the
    /// fault is recorded and the next callback still runs.
    /// </summary>
    /// <param name="callback">The callback.</param>
    /// <returns>This host, to chain calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="callback"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The shutdown has already started.</exception>
    public SignalHost AddShutdownCallback(Action<ShutdownCause> callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return AddShutdownCallbackCore(cause =>
        {
            callback(cause);
            return Task.CompletedTask;
        });
    }

    /// <summary>
    /// Adds an asynchronous shutdown callback; the host awaits it before the next one, within the
    /// shutdown deadline. See <see cref="AddShutdownCallback(Action{ShutdownCause})"/>.
    /// </summary>
    /// <param name="callback">The callback.</param>
    /// <returns>This host, to chain calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="callback"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The shutdown has already started.</exception>
    public SignalHost AddShutdownCallback(Func<ShutdownCause, Task> callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return AddShutdownCallbackCore(callback);
    }

    /// <summary>
    /// Adds a reload callback, called with the signal when a signal whose action is
    /// <see cref="SignalAction.Reload"/> arrives (set one with
    /// <c>Handle(PosixSignal.SIGHUP, SignalAction.Reload)</c>). Reload callbacks run in the order
    /// added, on the run's thread, never at the same time as each other, a startup job or the
    /// shutdown. Reload signals that arrive while a reload runs are merged into one more reload;
    /// once a shutdown is requested, pending reloads and the remaining callbacks are skipped. If
    /// one throws, the fault is recorded, the next still runs, and the host keeps running.
    /// </summary>
    /// <param name="callback">The callback, for example re-reading a configuration file.</param>
    /// <returns>This host, to chain calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="callback"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The shutdown has already started.</exception>
    public SignalHost AddReloadCallback(Action<PosixSignal> callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return AddReloadCallbackCore(signal =>
        {
            callback(signal);
            return Task.CompletedTask;
        });
    }

    /// <summary>
    /// Adds an asynchronous reload callback; the host awaits it before the next one. See
    /// <see cref="AddReloadCallback(Action{PosixSignal})"/>. An <see cref="OperationCanceledException"/>
    /// it throws once <see cref="ShutdownRequested"/> is cancelled is not a fault.
    /// </summary>
    /// <param name="callback">The callback.</param>
    /// <returns>This host, to chain calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="callback"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The shutdown has already started.</exception>
    public SignalHost AddReloadCallback(Func<PosixSignal, Task> callback)
    {
        ArgumentNullException.ThrowIfNull(callback);
        return AddReloadCallbackCore(callback);
    }

    /// <summary>
    /// Adds a synchronous join: after the shutdown callbacks, the joins run in the order added and
    /// the host waits for each before the next. This one runs on the run's thread and cannot be
    /// abandoned: no deadline can stop it early (a join that ran past the shutdown deadline makes
    /// the host skip the steps after it). For a bounded wait use a <see cref="Thread"/>,
    /// <see cref="Task"/> or <see cref="Func{CancellationToken, Task}"/> join with a timeout.
    /// </summary>
    /// <param name="join">The join, for example draining a queue.</param>
    /// <returns>This host, to chain calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="join"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The shutdown has already started.</exception>
    public SignalHost AddJoin(Action join)
    {
        ArgumentNullException.ThrowIfNull(join);
        return AddJoinCore(
            _ =>
            {
                join();
                return Task.CompletedTask;
            },
            Timeout.InfiniteTimeSpan);
    }

    /// <summary>Adds an asynchronous join, awaited with no timeout of its own (the shutdown deadline still applies).</summary>
    /// <param name="join">Called when its turn comes; the host awaits the task it returns.</param>
    /// <returns>This host, to chain calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="join"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The shutdown has already started.</exception>
    public SignalHost AddJoin(Func<Task> join)
    {
        ArgumentNullException.ThrowIfNull(join);
        return AddJoinCore(_ => join(), Timeout.InfiniteTimeSpan);
    }

    /// <summary>
    /// Adds an asynchronous join with a timeout, counted from when its turn comes. If it has not
    /// finished by then, the host records a <see cref="TimeoutException"/> fault, stops waiting
    /// for it and goes on with the next join.
    /// </summary>
    /// <param name="join">Called when its turn comes; the host awaits the task it returns.</param>
    /// <param name="timeout">The most to wait; <see cref="Timeout.InfiniteTimeSpan"/> for no limit of its own.</param>
    /// <returns>This host, to chain calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="join"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite) or too large for a timer.</exception>
    /// <exception cref="InvalidOperationException">The shutdown has already started.</exception>
    public SignalHost AddJoin(Func<Task> join, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(join);
        CheckTimeout(timeout, nameof(timeout));
        return AddJoinCore(_ => join(), timeout);
    }

    /// <summary>
    /// Adds an asynchronous join with a timeout whose token is cancelled when the host stops
    /// waiting for it: at its timeout or at the shutdown deadline, whichever comes first. See
    /// <see cref="AddJoin(Func{Task}, TimeSpan)"/>.
    /// </summary>
    /// <param name="join">Called when its turn comes with the token; the host awaits the task it returns.</param>
    /// <param name="timeout">The most to wait; <see cref="Timeout.InfiniteTimeSpan"/> for no limit of its own.</param>
    /// <returns>This host, to chain calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="join"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite) or too large for a timer.</exception>
    /// <exception cref="InvalidOperationException">The shutdown has already started.</exception>
    public SignalHost AddJoin(Func<CancellationToken, Task> join, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(join);
        CheckTimeout(timeout, nameof(timeout));
        return AddJoinCore(join, timeout);
    }

    /// <summary>
    /// Adds a join that waits for a thread to end, with no timeout of its own. The wait happens on
    /// a helper thread, so the shutdown deadline can still abandon it. A thread that was never
    /// started is a fault.
    /// </summary>
    /// <param name="thread">The thread, typically a worker started by a startup job.</param>
    /// <returns>This host, to chain calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="thread"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The shutdown has already started.</exception>
    public SignalHost AddJoin(Thread thread) => AddJoin(thread, Timeout.InfiniteTimeSpan);

    /// <summary>
    /// Adds a join that waits at most <paramref name="timeout"/> for a thread to end. If it is
    /// still alive then, the host records a <see cref="TimeoutException"/> fault and goes on; the
    /// thread keeps running (a background thread does not keep the process alive).
    /// </summary>
    /// <param name="thread">The thread.</param>
    /// <param name="timeout">The most to wait; <see cref="Timeout.InfiniteTimeSpan"/> for no limit of its own.</param>
    /// <returns>This host, to chain calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="thread"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite) or too large for a timer.</exception>
    /// <exception cref="InvalidOperationException">The shutdown has already started.</exception>
    public SignalHost AddJoin(Thread thread, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(thread);
        CheckTimeout(timeout, nameof(timeout));
        return AddJoinCore(_ => JoinThreadAsync(thread), timeout);
    }

    /// <summary>Adds a join that waits for a task (for example a worker's <c>Task.Run</c>) with no timeout of its own.</summary>
    /// <param name="task">The task. Its fault or cancellation is recorded as a fault.</param>
    /// <returns>This host, to chain calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="task"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The shutdown has already started.</exception>
    public SignalHost AddJoin(Task task) => AddJoin(task, Timeout.InfiniteTimeSpan);

    /// <summary>Adds a join that waits at most <paramref name="timeout"/> for a task; see <see cref="AddJoin(Func{Task}, TimeSpan)"/>.</summary>
    /// <param name="task">The task. Its fault or cancellation is recorded as a fault.</param>
    /// <param name="timeout">The most to wait; <see cref="Timeout.InfiniteTimeSpan"/> for no limit of its own.</param>
    /// <returns>This host, to chain calls.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="task"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite) or too large for a timer.</exception>
    /// <exception cref="InvalidOperationException">The shutdown has already started.</exception>
    public SignalHost AddJoin(Task task, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(task);
        CheckTimeout(timeout, nameof(timeout));
        return AddJoinCore(_ => task, timeout);
    }

    /// <summary>
    /// Starts the same shutdown a signal would, from inside the program, reported as
    /// <see cref="ShutdownCauseKind.Requested"/> with exit code
    /// <see cref="SignalHostOptions.RequestedExitCode"/> (252, the special exit value of the Python
    /// library async-utils, by default). Safe from any thread, including a callback; never blocks. Before the run starts
    /// it is remembered, and the run shuts down right after its startup jobs.
    /// </summary>
    /// <returns><see langword="true"/> if this call started the shutdown; <see langword="false"/> if a shutdown was already requested or the run has ended.</returns>
    public bool RequestShutdown() =>
        RequestShutdownCore(new ShutdownCause(ShutdownCauseKind.Requested, null, "RequestShutdown() was called", _requestedExitCode));

    /// <summary>Starts the shutdown from inside the program with a reason that shutdown callbacks and the result report; see <see cref="RequestShutdown()"/>.</summary>
    /// <param name="reason">Why, in words for a log.</param>
    /// <returns><see langword="true"/> if this call started the shutdown; <see langword="false"/> if a shutdown was already requested or the run has ended.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="reason"/> is <see langword="null"/>.</exception>
    public bool RequestShutdown(string reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        return RequestShutdownCore(new ShutdownCause(ShutdownCauseKind.Requested, null, reason, _requestedExitCode));
    }

    /// <summary>
    /// Starts the shutdown from inside the program with a reason and the exit code a clean
    /// shutdown returns, for example 0 when a batch worker has finished its work; see <see cref="RequestShutdown()"/>.
    /// </summary>
    /// <param name="reason">Why, in words for a log.</param>
    /// <param name="exitCode">The exit code of a clean shutdown, from 0 to 255.</param>
    /// <returns><see langword="true"/> if this call started the shutdown; <see langword="false"/> if a shutdown was already requested or the run has ended.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="reason"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="exitCode"/> is outside 0 to 255.</exception>
    public bool RequestShutdown(string reason, int exitCode)
    {
        ArgumentNullException.ThrowIfNull(reason);
        CheckExitCode(exitCode, nameof(exitCode));
        return RequestShutdownCore(new ShutdownCause(ShutdownCauseKind.Requested, null, reason, exitCode));
    }

    /// <summary>
    /// Runs the host on the calling thread and blocks until the shutdown has finished: installs
    /// the signal handlers, runs the startup jobs, waits, runs the shutdown callbacks and joins,
    /// removes the handlers. Call it from <c>Main</c> and return its
    /// <see cref="SignalHostResult.ExitCode"/>. It blocks on asynchronous steps, so do not call it
    /// on a thread with a single-threaded <see cref="SynchronizationContext"/> (use
    /// <see cref="RunAsync"/> there).
    /// </summary>
    /// <param name="cancellationToken">Cancelling it requests the shutdown, like <see cref="RequestShutdown()"/>; it does not abandon the shutdown.</param>
    /// <returns>What started the shutdown, what went wrong, and the exit code.</returns>
    /// <exception cref="InvalidOperationException">The host has already been run.</exception>
    /// <exception cref="PlatformNotSupportedException">
    /// A signal cannot be handled on this platform (for example a raw signal number on Windows).
    /// Whatever installing a handler throws (<see cref="PosixSignalRegistration.Create"/>) comes
    /// out of <c>Run</c> before any step has run, with the handlers already installed removed.
    /// </exception>
    public SignalHostResult Run(CancellationToken cancellationToken = default) =>
        RunCoreAsync(blocking: true, cancellationToken).AsTask().GetAwaiter().GetResult();

    /// <summary>
    /// Runs the host asynchronously: the same sequence as <see cref="Run"/>, with asynchronous
    /// steps awaited instead of blocked on. For <c>static async Task&lt;int&gt; Main</c>. Like any
    /// async method it runs on the caller's thread until the first step that does not complete at
    /// once (synchronous startup jobs included), and returns while it waits for a signal.
    /// </summary>
    /// <param name="cancellationToken">Cancelling it requests the shutdown, like <see cref="RequestShutdown()"/>; it does not abandon the shutdown.</param>
    /// <returns>What started the shutdown, what went wrong, and the exit code.</returns>
    /// <exception cref="InvalidOperationException">The host has already been run.</exception>
    /// <exception cref="PlatformNotSupportedException">A signal cannot be handled on this platform; nothing ran.</exception>
    public Task<SignalHostResult> RunAsync(CancellationToken cancellationToken = default) =>
        RunCoreAsync(blocking: false, cancellationToken).AsTask();

    /// <summary>Installs a signal handler; tests replace it so that no real handler is installed in the test host.</summary>
    internal Func<PosixSignal, Action<PosixSignalContext>, IDisposable> SignalRegistrar { get; set; } =
        static (signal, handler) => PosixSignalRegistration.Create(signal, handler);

    /// <summary>
    /// On Windows, SIGHUP (console closed) and SIGTERM (system shutdown) end the process as soon
    /// as the handler returns, so the handler waits for the shutdown to finish. Tests turn it on
    /// elsewhere.
    /// </summary>
    internal bool HoldTerminationSignals { get; set; } = OperatingSystem.IsWindows();

    /// <summary>Delivers a signal to the host as the runtime would; for tests.</summary>
    internal void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        PosixSignal signal = context.Signal;
        SignalAction action = _activeActions is { } actions && actions.TryGetValue(signal, out SignalAction a) ? a : SignalAction.Ignore;
        switch (action)
        {
            case SignalAction.Reload:
                OnReloadSignal(signal);
                break;
            case SignalAction.Shutdown:
                OnShutdownSignal(signal);
                break;
            default:
                break;
        }
    }

    private static void CheckTimeout(TimeSpan timeout, string paramName)
    {
        if (timeout != Timeout.InfiniteTimeSpan && (timeout < TimeSpan.Zero || timeout.TotalMilliseconds > MaxTimeoutMilliseconds))
        {
            throw new ArgumentOutOfRangeException(paramName, timeout, "A timeout must be zero or positive, at most about 49 days, or Timeout.InfiniteTimeSpan.");
        }
    }

    private static void CheckExitCode(int exitCode, string paramName)
    {
        if (exitCode is < 0 or > 255)
        {
            throw new ArgumentOutOfRangeException(paramName, exitCode, "An exit code must be from 0 to 255, the range a Unix exit status carries.");
        }
    }

    private static Task JoinThreadAsync(Thread thread)
    {
        // Join(0) returns at once for an ended thread and throws ThreadStateException for one never started.
        if (thread.Join(0))
        {
            return Task.CompletedTask;
        }

        return Task.Factory.StartNew(
            static t => ((Thread)t!).Join(),
            thread,
            CancellationToken.None,
            TaskCreationOptions.LongRunning | TaskCreationOptions.DenyChildAttach,
            TaskScheduler.Default);
    }

    /// <summary>Blocks on the task when the run is synchronous, so that every await in the run completes inline on the calling thread.</summary>
    private static async ValueTask WaitAsync(Task task, bool blocking)
    {
        if (blocking)
        {
            task.GetAwaiter().GetResult();
        }
        else
        {
            await task.ConfigureAwait(false);
        }
    }

    /// <summary>The single exception a step threw, or the aggregate when it threw several.</summary>
    private static Exception Unwrap(Task task, Exception caught)
    {
        Exception error = task.Exception is { InnerExceptions.Count: > 1 } aggregate ? aggregate : caught;
        while (error is AggregateException { InnerExceptions.Count: 1 } single)
        {
            error = single.InnerExceptions[0];
        }

        return error;
    }

    private static void ObserveLater(Task task) =>
        task.ContinueWith(
            static t => _ = t.Exception,
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

    private static InvalidOperationException NullTask() => new("The delegate returned a null Task.");

    private static string Seconds(TimeSpan span) => string.Create(CultureInfo.InvariantCulture, $"{span.TotalSeconds:0.###} s");

    private static TimeSpan Min(TimeSpan a, TimeSpan b) =>
        a == Timeout.InfiniteTimeSpan ? b : b == Timeout.InfiniteTimeSpan ? a : a < b ? a : b;

    private SignalHost AddStartupJobCore(Func<Task> job)
    {
        lock (_gate)
        {
            if (_state > HostState.Starting)
            {
                throw new InvalidOperationException("Startup jobs can only be added until the startup has finished.");
            }

            _startupJobs.Add(job);
        }

        return this;
    }

    private SignalHost AddShutdownCallbackCore(Func<ShutdownCause, Task> callback)
    {
        lock (_gate)
        {
            ThrowIfShuttingDown();
            _shutdownCallbacks.Add(callback);
        }

        return this;
    }

    private SignalHost AddReloadCallbackCore(Func<PosixSignal, Task> callback)
    {
        lock (_gate)
        {
            ThrowIfShuttingDown();
            _reloadCallbacks.Add(callback);
        }

        return this;
    }

    private SignalHost AddJoinCore(Func<CancellationToken, Task> join, TimeSpan timeout)
    {
        lock (_gate)
        {
            ThrowIfShuttingDown();
            _joins.Add(new JoinStep(join, timeout));
        }

        return this;
    }

    private void ThrowIfShuttingDown()
    {
        if (_state >= HostState.ShuttingDown)
        {
            throw new InvalidOperationException("The shutdown has already started; callbacks and joins can no longer be added.");
        }
    }

    private bool RequestShutdownCore(ShutdownCause cause)
    {
        TaskCompletionSource wake;
        lock (_gate)
        {
            if (_cause is not null || _state == HostState.Completed)
            {
                return false;
            }

            SetCause(cause);
            wake = _wake;
        }

        wake.TrySetResult();
        return true;
    }

    /// <summary>Records the first cause and cancels <see cref="ShutdownRequested"/>; its callbacks run on the thread pool, not here. Under <see cref="_gate"/>.</summary>
    private void SetCause(ShutdownCause cause)
    {
        _cause = cause;
        _shutdownTokenCallbacks = _shutdownRequested.CancelAsync();
    }

    private void OnShutdownSignal(PosixSignal signal)
    {
        TaskCompletionSource? wake = null;
        bool force = false;
        lock (_gate)
        {
            if (_state == HostState.Completed)
            {
                return;
            }

            _shutdownSignals++;
            if (_cause is null)
            {
                SetCause(new ShutdownCause(ShutdownCauseKind.Signal, signal, null, _signalExitCode ?? SignalNumbers.ConventionalExitCode(signal)));
                wake = _wake;
            }
            else
            {
                force = _shutdownSignals >= 2 && _forceExitOnSecondSignal;
            }
        }

        wake?.TrySetResult();
        if (force)
        {
            _forceExit(SignalNumbers.ConventionalExitCode(signal));
        }
        else if (HoldTerminationSignals && signal is PosixSignal.SIGHUP or PosixSignal.SIGTERM)
        {
            _completed.Task.Wait();
        }
    }

    private void OnReloadSignal(PosixSignal signal)
    {
        TaskCompletionSource wake;
        lock (_gate)
        {
            if (_cause is not null || _state == HostState.Completed)
            {
                return;
            }

            _pendingReload = signal;
            wake = _wake;
        }

        wake.TrySetResult();
    }

    private async ValueTask<SignalHostResult> RunCoreAsync(bool blocking, CancellationToken cancellationToken)
    {
        Dictionary<PosixSignal, SignalAction> actions;
        lock (_gate)
        {
            if (_state != HostState.NotStarted)
            {
                throw new InvalidOperationException("A SignalHost runs once, and this one has already been run.");
            }

            _state = HostState.Starting;
            actions = new Dictionary<PosixSignal, SignalAction>(_actions);
            _activeActions = actions;
        }

        var faults = new List<SignalHostFault>();
        ShutdownCause cause;
        TimeSpan shutdownDuration;
        try
        {
            var registrations = new List<IDisposable>(actions.Count);
            CancellationTokenRegistration callerRegistration = default;
            try
            {
                foreach (PosixSignal signal in actions.Keys)
                {
                    registrations.Add(SignalRegistrar(signal, _onSignal));
                }

                callerRegistration = cancellationToken.UnsafeRegister(
                    static state => ((SignalHost)state!).RequestShutdownCore(new ShutdownCause(
                        ShutdownCauseKind.Requested,
                        null,
                        "the cancellation token passed to Run was cancelled",
                        ((SignalHost)state!)._requestedExitCode)),
                    this);

                await RunStartupJobsAsync(faults, blocking).ConfigureAwait(false);
                cause = await WaitForShutdownAsync(faults, blocking).ConfigureAwait(false);
                shutdownDuration = await ShutdownAsync(cause, faults, blocking).ConfigureAwait(false);
            }
            finally
            {
                callerRegistration.Dispose();
                foreach (IDisposable registration in registrations)
                {
                    try
                    {
                        registration.Dispose();
                    }
                    catch (Exception ex)
                    {
                        faults.Add(new SignalHostFault(SignalHostPhase.HandlerRemoval, -1, ex));
                    }
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                _state = HostState.Completed;
            }

            _completed.TrySetResult();
        }

        int exitCode = faults.Count == 0 ? cause.ExitCode : _faultExitCode;
        return new SignalHostResult(cause, faults.ToArray(), exitCode, shutdownDuration);
    }

    private async ValueTask RunStartupJobsAsync(List<SignalHostFault> faults, bool blocking)
    {
        for (int i = 0; ; i++)
        {
            Func<Task> job;
            lock (_gate)
            {
                if (i == _startupJobs.Count)
                {
                    _state = HostState.Running;
                    return;
                }

                job = _startupJobs[i];
            }

            Exception? error = await RunUnboundedAsync(job, blocking).ConfigureAwait(false);
            if (error is not null)
            {
                faults.Add(new SignalHostFault(SignalHostPhase.StartupJob, i, error));
                lock (_gate)
                {
                    _state = HostState.Running;
                }

                RequestShutdownCore(new ShutdownCause(
                    ShutdownCauseKind.StartupFailed,
                    null,
                    string.Create(CultureInfo.InvariantCulture, $"startup job {i} threw {error.GetType().Name}: {error.Message}"),
                    _faultExitCode));
                return;
            }
        }
    }

    private async ValueTask<ShutdownCause> WaitForShutdownAsync(List<SignalHostFault> faults, bool blocking)
    {
        while (true)
        {
            Task? wake = null;
            PosixSignal reload = default;
            lock (_gate)
            {
                if (_cause is not null)
                {
                    _state = HostState.ShuttingDown;
                    return _cause;
                }

                if (_pendingReload is PosixSignal pending)
                {
                    _pendingReload = null;
                    reload = pending;
                }
                else
                {
                    if (_wake.Task.IsCompleted)
                    {
                        _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    }

                    wake = _wake.Task;
                }
            }

            if (wake is not null)
            {
                await WaitAsync(wake, blocking).ConfigureAwait(false);
            }
            else
            {
                await ReloadAsync(reload, faults, blocking).ConfigureAwait(false);
            }
        }
    }

    private async ValueTask ReloadAsync(PosixSignal signal, List<SignalHostFault> faults, bool blocking)
    {
        Func<PosixSignal, Task>[] callbacks;
        lock (_gate)
        {
            callbacks = [.. _reloadCallbacks];
        }

        for (int i = 0; i < callbacks.Length && !_shutdownRequested.IsCancellationRequested; i++)
        {
            Func<PosixSignal, Task> callback = callbacks[i];
            Exception? error = await RunUnboundedAsync(() => callback(signal), blocking).ConfigureAwait(false);
            if (error is not null)
            {
                faults.Add(new SignalHostFault(SignalHostPhase.ReloadCallback, i, error));
            }
        }
    }

    /// <summary>Runs a startup job or reload callback to the end; cancellation once a shutdown is requested is not a fault.</summary>
    private async ValueTask<Exception?> RunUnboundedAsync(Func<Task> step, bool blocking)
    {
        Task task;
        try
        {
            task = step() ?? throw NullTask();
        }
        catch (OperationCanceledException) when (_shutdownRequested.IsCancellationRequested)
        {
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }

        try
        {
            await WaitAsync(task, blocking).ConfigureAwait(false);
            return null;
        }
        catch (OperationCanceledException) when (_shutdownRequested.IsCancellationRequested)
        {
            return null;
        }
        catch (Exception ex)
        {
            return Unwrap(task, ex);
        }
    }

    private async ValueTask<TimeSpan> ShutdownAsync(ShutdownCause cause, List<SignalHostFault> faults, bool blocking)
    {
        var steps = new List<ShutdownStep>();
        lock (_gate)
        {
            Task tokenCallbacks = _shutdownTokenCallbacks;
            steps.Add(new ShutdownStep(SignalHostPhase.ShutdownRequestedToken, -1, _ => tokenCallbacks, Timeout.InfiniteTimeSpan));
            for (int i = 0; i < _shutdownCallbacks.Count; i++)
            {
                Func<ShutdownCause, Task> callback = _shutdownCallbacks[i];
                steps.Add(new ShutdownStep(SignalHostPhase.ShutdownCallback, i, _ => callback(cause), Timeout.InfiniteTimeSpan));
            }

            for (int i = 0; i < _joins.Count; i++)
            {
                steps.Add(new ShutdownStep(SignalHostPhase.Join, i, _joins[i].Wait, _joins[i].Timeout));
            }
        }

        long start = _time.GetTimestamp();
        for (int s = 0; s < steps.Count; s++)
        {
            ShutdownStep step = steps[s];
            int after = steps.Count - s - 1;
            TimeSpan remaining = Remaining(start);
            if (remaining == TimeSpan.Zero)
            {
                faults.Add(new SignalHostFault(step.Phase, step.Index, new TimeoutException(string.Create(
                    CultureInfo.InvariantCulture,
                    $"The shutdown deadline of {Seconds(_shutdownTimeout)} passed before {Describe(step)} could run; it and the {after} step(s) after it were skipped."))));
                break;
            }

            bool deadlineBinds = step.Timeout == Timeout.InfiniteTimeSpan ? remaining != Timeout.InfiniteTimeSpan : remaining != Timeout.InfiniteTimeSpan && remaining <= step.Timeout;
            TimeSpan timeout = Min(step.Timeout, remaining);
            (StepOutcome outcome, Exception? error) = await RunBoundedAsync(step.Run, timeout, blocking).ConfigureAwait(false);
            if (outcome == StepOutcome.Faulted)
            {
                faults.Add(new SignalHostFault(step.Phase, step.Index, error!));
            }
            else if (outcome == StepOutcome.TimedOut && deadlineBinds)
            {
                faults.Add(new SignalHostFault(step.Phase, step.Index, new TimeoutException(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{Capitalized(Describe(step))} had not finished when the shutdown deadline of {Seconds(_shutdownTimeout)} passed; the host stopped waiting for it and skipped the {after} step(s) after it."))));
                break;
            }
            else if (outcome == StepOutcome.TimedOut)
            {
                faults.Add(new SignalHostFault(step.Phase, step.Index, new TimeoutException(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{Capitalized(Describe(step))} did not finish within its timeout of {Seconds(step.Timeout)}; the host stopped waiting for it."))));
            }
        }

        return _time.GetElapsedTime(start);

        static string Describe(ShutdownStep step) => step.Phase switch
        {
            SignalHostPhase.ShutdownRequestedToken => "the ShutdownRequested token's callbacks",
            SignalHostPhase.ShutdownCallback => string.Create(CultureInfo.InvariantCulture, $"shutdown callback {step.Index}"),
            _ => string.Create(CultureInfo.InvariantCulture, $"join {step.Index}"),
        };

        static string Capitalized(string text) => string.Concat(text[..1].ToUpperInvariant(), text.AsSpan(1));
    }

    private TimeSpan Remaining(long start)
    {
        if (_shutdownTimeout == Timeout.InfiniteTimeSpan)
        {
            return Timeout.InfiniteTimeSpan;
        }

        TimeSpan left = _shutdownTimeout - _time.GetElapsedTime(start);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    /// <summary>Runs one shutdown step, waiting at most <paramref name="timeout"/>; the step's token is cancelled when the host stops waiting.</summary>
    private async ValueTask<(StepOutcome Outcome, Exception? Error)> RunBoundedAsync(Func<CancellationToken, Task> step, TimeSpan timeout, bool blocking)
    {
        using CancellationTokenSource? deadline = timeout == Timeout.InfiniteTimeSpan ? null : new CancellationTokenSource(timeout, _time);
        CancellationToken token = deadline?.Token ?? CancellationToken.None;
        Task task;
        try
        {
            task = step(token) ?? throw NullTask();
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            return (StepOutcome.TimedOut, null);
        }
        catch (Exception ex)
        {
            return (StepOutcome.Faulted, ex);
        }

        try
        {
            await WaitAsync(deadline is null ? task : task.WaitAsync(token), blocking).ConfigureAwait(false);
            return (StepOutcome.Completed, null);
        }
        catch (Exception ex)
        {
            if (task.IsCompletedSuccessfully)
            {
                return (StepOutcome.Completed, null);
            }

            bool cancelledByDeadline = token.IsCancellationRequested && (!task.IsCompleted || task.IsCanceled || ex is OperationCanceledException);
            if (cancelledByDeadline)
            {
                ObserveLater(task);
                return (StepOutcome.TimedOut, null);
            }

            return (StepOutcome.Faulted, Unwrap(task, ex));
        }
    }

    private readonly record struct JoinStep(Func<CancellationToken, Task> Wait, TimeSpan Timeout);

    private readonly record struct ShutdownStep(SignalHostPhase Phase, int Index, Func<CancellationToken, Task> Run, TimeSpan Timeout);
}
