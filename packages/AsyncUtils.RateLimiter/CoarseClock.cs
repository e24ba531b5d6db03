using System.Diagnostics;
using System.Runtime.InteropServices;

namespace AsyncUtils;

/// <summary>
/// The system's coarse monotonic clock, <see cref="Environment.TickCount64"/>, in
/// <see cref="Stopwatch"/> units, for stamping grants cheaply. Used only on 64-bit Linux, where
/// TickCount64 reads CLOCK_MONOTONIC_COARSE: the timeline of <see cref="Stopwatch"/>
/// (CLOCK_MONOTONIC, nanoseconds) as the kernel's timekeeping last accumulated it, truncated to the
/// millisecond. A reading is never later than the precise time. It trails it by up to one
/// millisecond (the truncation) plus about two ticks (the tick is clock_getres; measured on a
/// 250 Hz virtual machine: 2 to 6 ms behind, never less than 2 ms), so a grant is stamped
/// <see cref="StampOffset"/> = 1 ms + 2 ticks after the reading: its permit frees up to that much
/// late and never early. The limiter checks the bound against the precise clock at every tick and
/// every <see cref="CheckEvery"/> grants within one (each time it opens its lock-free path), and
/// uses the precise clock while the check fails.
/// A read costs about 6 ns against about 25 ns for the precise clock (measured on that machine).
/// </summary>
internal static class CoarseClock
{
    private const long NanosecondsPerMillisecond = 1_000_000;

    /// <summary>A coarser tick would make permits free too late to be worth the speed.</summary>
    private const long MaxTickNanoseconds = 10 * NanosecondsPerMillisecond;

    private const int ClockMonotonicCoarse = 6;

    /// <summary>Grants made on one coarse reading between two checks against the precise clock, at most.</summary>
    internal const int CheckEvery = 64;

    /// <summary>
    /// How far after a reading a grant made while the clock shows it is stamped: the millisecond
    /// the reading truncates plus two ticks. Zero when the coarse clock is not available.
    /// </summary>
    internal static readonly long StampOffset = ComputeStampOffset();

    /// <summary>Whether grants may be stamped from the coarse clock in this process.</summary>
    internal static bool IsAvailable => StampOffset > 0;

    /// <summary>
    /// A reading of <see cref="Environment.TickCount64"/> in <see cref="Stopwatch"/> units: the
    /// coarse time, never later than <see cref="Stopwatch.GetTimestamp"/> read after it.
    /// </summary>
    internal static long FromTick(long tick) => tick * NanosecondsPerMillisecond;

    /// <summary>
    /// Whether a coarse reading is close enough to the precise time for grants to be stamped from
    /// it: the precise time must be earlier than the reading plus <see cref="StampOffset"/>. It is
    /// not when the kernel's tick is held up, as can happen to a virtual machine.
    /// </summary>
    internal static bool IsCloseEnough(long reading, long precise) => precise - reading < StampOffset;

    private static long ComputeStampOffset()
    {
        if (!OperatingSystem.IsLinux() || !Environment.Is64BitProcess || Stopwatch.Frequency != 1_000_000_000)
        {
            return 0;
        }

        try
        {
            if (NativeMethods.ClockGetRes(ClockMonotonicCoarse, out NativeMethods.Timespec resolution) != 0)
            {
                return 0;
            }

            long tick = ((long)resolution.Seconds * 1_000_000_000) + resolution.Nanoseconds;
            return tick is > 0 and <= MaxTickNanoseconds ? NanosecondsPerMillisecond + (2 * tick) : 0;
        }
        catch (DllNotFoundException)
        {
            return 0;
        }
        catch (EntryPointNotFoundException)
        {
            return 0;
        }
    }

    private static class NativeMethods
    {
        [DllImport("libc", EntryPoint = "clock_getres")]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        internal static extern int ClockGetRes(int clockId, out Timespec resolution);

        /// <summary>struct timespec on 64-bit Linux.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct Timespec
        {
            internal nint Seconds;
            internal nint Nanoseconds;
        }
    }
}
