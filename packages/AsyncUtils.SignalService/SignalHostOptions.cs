namespace AsyncUtils;

/// <summary>
/// Optional settings for a <see cref="SignalHost"/>. The host copies and checks them when it is
/// created; changing the object afterwards has no effect.
/// </summary>
public sealed class SignalHostOptions
{
    /// <summary>The exit code of an in-app request that names none: 252, the special exit value of the Python library async-utils.</summary>
    public const int DefaultRequestedExitCode = 252;

    /// <summary>
    /// The most the whole shutdown sequence may take, from the moment it starts to the end of the
    /// last join; <see cref="Timeout.InfiniteTimeSpan"/> (the default) for no limit. When it
    /// passes, the host stops waiting for the step in progress (its token is cancelled), skips the
    /// remaining callbacks and joins, records a <see cref="TimeoutException"/> fault and returns.
    /// A synchronous callback that never returns cannot be abandoned; see the package README.
    /// Keep it below your supervisor's kill timeout (10 s for <c>docker stop</c>, the pod's
    /// <c>terminationGracePeriodSeconds</c>, systemd's <c>TimeoutStopSec</c>).
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = Timeout.InfiniteTimeSpan;

    /// <summary>
    /// Whether a second shutdown signal (for example a second Ctrl+C) forces the process to exit at
    /// once, with exit code 128 + that signal's number (130 for SIGINT), without waiting for the
    /// shutdown to finish. On by default. When off, further shutdown signals are swallowed.
    /// Signals whose action is <see cref="SignalAction.Reload"/> or <see cref="SignalAction.Ignore"/> never count.
    /// </summary>
    public bool ForceExitOnSecondSignal { get; set; } = true;

    /// <summary>
    /// What forcing the exit does, given the exit code; <see langword="null"/> (the default) calls
    /// <see cref="Environment.Exit(int)"/>. It runs on the signal handler's thread. Tests set it to
    /// record the call instead of ending the test host.
    /// </summary>
    public Action<int>? ForceExit { get; set; }

    /// <summary>
    /// The exit code of a clean shutdown started by a signal; <see langword="null"/> (the default)
    /// gives the shell convention 128 + the signal number (SIGHUP 129, SIGINT 130, SIGQUIT 131,
    /// SIGTERM 143). Set 0 to report a signal-initiated graceful stop as success. From 0 to 255.
    /// </summary>
    public int? SignalExitCode { get; set; }

    /// <summary>
    /// The exit code of an in-app request that names none (<see cref="SignalHost.RequestShutdown()"/>,
    /// or the run's cancellation token): 252 by default. From 0 to 255.
    /// </summary>
    public int RequestedExitCode { get; set; } = DefaultRequestedExitCode;

    /// <summary>
    /// The exit code when anything went wrong (a startup job, callback or join threw, or a deadline
    /// was missed): 1 by default. From 0 to 255.
    /// </summary>
    public int FaultExitCode { get; set; } = 1;

    /// <summary>The clock for deadlines and <see cref="SignalHostResult.ShutdownDuration"/>; <see langword="null"/> uses <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider? TimeProvider { get; set; }
}
