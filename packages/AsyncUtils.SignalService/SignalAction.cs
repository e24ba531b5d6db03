namespace AsyncUtils;

/// <summary>What a <see cref="SignalHost"/> does when a signal it handles arrives; set per signal with <see cref="SignalHost.Handle"/>.</summary>
public enum SignalAction
{
    /// <summary>
    /// Start the shutdown sequence (the default for SIGINT and SIGTERM). A second shutdown signal
    /// while the shutdown is under way forces the process to exit; see
    /// <see cref="SignalHostOptions.ForceExitOnSecondSignal"/>.
    /// </summary>
    Shutdown = 0,

    /// <summary>
    /// Call the reload callbacks and keep running: the usual meaning of SIGHUP. Ignored once a
    /// shutdown has been requested.
    /// </summary>
    Reload = 1,

    /// <summary>Swallow the signal: the process neither dies nor reacts.</summary>
    Ignore = 2,
}
