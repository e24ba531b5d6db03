using System.Globalization;

namespace AsyncUtils;

/// <summary>
/// How a <see cref="SignalHost"/>'s run ended: what started the shutdown, everything that went
/// wrong, and the exit code to return from <c>Main</c>. Immutable.
/// </summary>
public sealed class SignalHostResult
{
    internal SignalHostResult(ShutdownCause cause, IReadOnlyList<SignalHostFault> faults, int exitCode, TimeSpan shutdownDuration)
    {
        Cause = cause;
        Faults = faults;
        ExitCode = exitCode;
        ShutdownDuration = shutdownDuration;
    }

    /// <summary>What started the shutdown: the first shutdown signal, in-app request or startup failure.</summary>
    public ShutdownCause Cause { get; }

    /// <summary>
    /// Every exception a startup job, reload callback, shutdown callback, join, or handler removal
    /// threw during the run, and every missed deadline, in the order they happened. Empty when the
    /// run was clean. The host never throws these: it records them and runs the remaining steps.
    /// </summary>
    public IReadOnlyList<SignalHostFault> Faults { get; }

    /// <summary><see langword="true"/> when <see cref="Faults"/> is empty.</summary>
    public bool IsClean => Faults.Count == 0;

    /// <summary>
    /// The code to return from <c>Main</c>: <see cref="ShutdownCause.ExitCode"/> of
    /// <see cref="Cause"/> when the run was clean (130 for SIGINT, 143 for SIGTERM, 252 for an
    /// in-app request, or what the options and the request asked for);
    /// <see cref="SignalHostOptions.FaultExitCode"/> (1 by default) when anything is in <see cref="Faults"/>.
    /// </summary>
    public int ExitCode { get; }

    /// <summary>How long the shutdown sequence took, from the first shutdown step to the last join, by the host's <see cref="TimeProvider"/>.</summary>
    public TimeSpan ShutdownDuration { get; }

    /// <summary>For logs: <c>shut down on SIGTERM (exit code 143) in 0.2 s; exit code 143, no faults</c>.</summary>
    /// <returns>A one-line description.</returns>
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"shut down on {Cause} in {ShutdownDuration.TotalSeconds:0.0##} s; exit code {ExitCode}, {(Faults.Count == 0 ? "no faults" : Faults.Count == 1 ? "1 fault" : $"{Faults.Count} faults")}");
}
