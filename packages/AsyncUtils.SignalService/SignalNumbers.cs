using System.Globalization;
using System.Runtime.InteropServices;

namespace AsyncUtils;

/// <summary>Maps <see cref="PosixSignal"/> values to their numbers and names.</summary>
internal static class SignalNumbers
{
    /// <summary>
    /// SIGHUP, SIGINT, SIGQUIT and SIGTERM have the same numbers on every Unix (1, 2, 3, 15); raw
    /// positive values are signal numbers already. The other named values (SIGCHLD, SIGTSTP, ...)
    /// differ between Linux and macOS and are not shutdown signals, so they are not accepted.
    /// </summary>
    internal static bool IsSupported(PosixSignal signal) => signal switch
    {
        PosixSignal.SIGHUP or PosixSignal.SIGINT or PosixSignal.SIGQUIT or PosixSignal.SIGTERM => true,
        _ => (int)signal > 0,
    };

    /// <summary>Raw 1, 2, 3 and 15 are SIGHUP, SIGINT, SIGQUIT and SIGTERM: use the named value so one signal has one action.</summary>
    internal static PosixSignal Normalize(PosixSignal signal) => (int)signal switch
    {
        1 => PosixSignal.SIGHUP,
        2 => PosixSignal.SIGINT,
        3 => PosixSignal.SIGQUIT,
        15 => PosixSignal.SIGTERM,
        _ => signal,
    };

    internal static int Number(PosixSignal signal) => signal switch
    {
        PosixSignal.SIGHUP => 1,
        PosixSignal.SIGINT => 2,
        PosixSignal.SIGQUIT => 3,
        PosixSignal.SIGTERM => 15,
        _ => (int)signal,
    };

    internal static string Name(PosixSignal signal) => signal switch
    {
        PosixSignal.SIGHUP => "SIGHUP",
        PosixSignal.SIGINT => "SIGINT",
        PosixSignal.SIGQUIT => "SIGQUIT",
        PosixSignal.SIGTERM => "SIGTERM",
        _ => string.Create(CultureInfo.InvariantCulture, $"signal {(int)signal}"),
    };

    /// <summary>128 + the signal number, kept within the 0 to 255 a Unix exit status can carry.</summary>
    internal static int ConventionalExitCode(PosixSignal signal) => Math.Min(128 + Number(signal), 255);
}
