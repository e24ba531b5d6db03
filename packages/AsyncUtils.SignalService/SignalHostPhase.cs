namespace AsyncUtils;

/// <summary>Where in a <see cref="SignalHost"/>'s run a <see cref="SignalHostFault"/> happened.</summary>
public enum SignalHostPhase
{
    /// <summary>A startup job threw; <see cref="SignalHostFault.Index"/> is its position among the startup jobs.</summary>
    StartupJob = 0,

    /// <summary>A reload callback threw; the host kept running.</summary>
    ReloadCallback = 1,

    /// <summary>
    /// A callback registered on <see cref="SignalHost.ShutdownRequested"/> threw, or had not
    /// finished by the shutdown deadline. <see cref="SignalHostFault.Index"/> is -1.
    /// </summary>
    ShutdownRequestedToken = 2,

    /// <summary>A shutdown callback threw, or had not finished by the shutdown deadline.</summary>
    ShutdownCallback = 3,

    /// <summary>A join threw, or missed its own timeout or the shutdown deadline.</summary>
    Join = 4,

    /// <summary>Removing a signal handler at the end of the run threw. <see cref="SignalHostFault.Index"/> is -1.</summary>
    HandlerRemoval = 5,
}
