using System.Globalization;
using System.Runtime.InteropServices;

namespace AsyncUtils;

/// <summary>
/// What started a <see cref="SignalHost"/>'s shutdown: a signal, an in-app request, or a failed
/// startup. Every shutdown callback receives it, and <see cref="SignalHostResult.Cause"/> reports it.
/// Immutable.
/// </summary>
public sealed class ShutdownCause
{
    internal ShutdownCause(ShutdownCauseKind kind, PosixSignal? signal, string? reason, int exitCode)
    {
        Kind = kind;
        Signal = signal;
        Reason = reason;
        ExitCode = exitCode;
    }

    /// <summary>Whether a signal, an in-app request or a failed startup job started the shutdown.</summary>
    public ShutdownCauseKind Kind { get; }

    /// <summary>
    /// The signal that arrived when <see cref="Kind"/> is <see cref="ShutdownCauseKind.Signal"/>
    /// (<see cref="PosixSignal.SIGTERM"/>, <see cref="PosixSignal.SIGINT"/>, ..., or a raw signal
    /// number cast to <see cref="PosixSignal"/>); otherwise <see langword="null"/>.
    /// </summary>
    public PosixSignal? Signal { get; }

    /// <summary>
    /// The reason given to <see cref="SignalHost.RequestShutdown(string)"/>, or a description of
    /// the failed startup job or the cancelled token; <see langword="null"/> for a signal.
    /// </summary>
    public string? Reason { get; }

    /// <summary>
    /// The exit code the run returns if the shutdown completes cleanly: 128 + the signal number
    /// for a signal (130 for SIGINT, 143 for SIGTERM, unless
    /// <see cref="SignalHostOptions.SignalExitCode"/> says otherwise), the requested code (252 by
    /// default) for an in-app request, <see cref="SignalHostOptions.FaultExitCode"/> for a failed
    /// startup. A fault during the shutdown replaces it with the fault exit code; see
    /// <see cref="SignalHostResult.ExitCode"/>.
    /// </summary>
    public int ExitCode { get; }

    /// <summary>For logs: <c>SIGTERM (exit code 143)</c>, <c>request: work finished (exit code 0)</c>, <c>startup failure: ...</c>.</summary>
    /// <returns>A one-line description.</returns>
    public override string ToString() => Kind switch
    {
        ShutdownCauseKind.Signal => string.Create(CultureInfo.InvariantCulture, $"{SignalNumbers.Name(Signal!.Value)} (exit code {ExitCode})"),
        ShutdownCauseKind.Requested => string.Create(CultureInfo.InvariantCulture, $"request: {Reason} (exit code {ExitCode})"),
        _ => string.Create(CultureInfo.InvariantCulture, $"startup failure: {Reason} (exit code {ExitCode})"),
    };
}
