namespace AsyncUtils;

/// <summary>What started a <see cref="SignalHost"/>'s shutdown.</summary>
public enum ShutdownCauseKind
{
    /// <summary>A signal whose action is <see cref="SignalAction.Shutdown"/> arrived; <see cref="ShutdownCause.Signal"/> says which.</summary>
    Signal = 0,

    /// <summary>
    /// The program asked from inside: <see cref="SignalHost.RequestShutdown()"/>, or the
    /// cancellation token passed to <see cref="SignalHost.Run"/> or <see cref="SignalHost.RunAsync"/>
    /// was cancelled (exit value 252 by default, the special value of the Python library async-utils).
    /// </summary>
    Requested = 1,

    /// <summary>A startup job threw; the remaining startup jobs were skipped and the host shut down at once.</summary>
    StartupFailed = 2,
}
