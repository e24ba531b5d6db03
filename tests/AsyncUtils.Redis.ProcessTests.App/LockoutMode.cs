using System.Globalization;
using StackExchange.Redis;

namespace AsyncUtils.Redis.ProcessTests.App;

/// <summary>
/// The mode that runs <see cref="RedisLockout"/> (AsyncUtils.Lockout.Redis):
/// <c>lockout CONNECTION NAME SKEW_MS</c>. The process's lockout runs on a clock SKEW_MS ahead; it
/// prints <c>ready</c>, then watches its gate every millisecond and prints <c>seen REAL_US</c> when
/// it becomes locked and <c>cleared REAL_US</c> when it opens again (real system time, Unix µs, so
/// that processes on one machine can be compared whatever their skew). Commands on standard input:
/// <c>lock MS</c> (prints <c>locking REAL_US</c> just before <c>LockFor</c>) and <c>exit</c>.
/// </summary>
public static class LockoutMode
{
    /// <summary>Runs the mode until <c>exit</c>.</summary>
    public static async Task RunAsync(string[] args, Output output)
    {
        await using ConnectionMultiplexer connection = await ConnectionMultiplexer.ConnectAsync(args[1]);
        TimeSpan skew = TimeSpan.FromMilliseconds(double.Parse(args[3], CultureInfo.InvariantCulture));
        await using RedisLockout lockout = await RedisLockout.CreateAsync(connection, new RedisLockoutOptions
        {
            Name = args[2],
            Local = new LockoutOptions { TimeProvider = new SkewedTimeProvider(skew) },
        });

        using var stop = new CancellationTokenSource();
        Task watch = WatchAsync(lockout, output, stop.Token);
        output.Line($"ready {Environment.ProcessId}");
        while (await Console.In.ReadLineAsync() is { } line)
        {
            string[] parts = line.Split(' ');
            if (parts[0] == "lock")
            {
                output.Line(string.Create(CultureInfo.InvariantCulture, $"locking {RealMicros()}"));
                lockout.LockFor(TimeSpan.FromMilliseconds(double.Parse(parts[1], CultureInfo.InvariantCulture)));
            }
            else if (parts[0] == "exit")
            {
                break;
            }
        }

        await stop.CancelAsync();
        await watch;
        output.Line("done");
    }

    private static async Task WatchAsync(RedisLockout lockout, Output output, CancellationToken stop)
    {
        bool locked = false;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                bool now = lockout.IsLocked;
                if (now != locked)
                {
                    locked = now;
                    output.Line(string.Create(CultureInfo.InvariantCulture, $"{(now ? "seen" : "cleared")} {RealMicros()}"));
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static long RealMicros() => OursMode.UnixMicros(TimeProvider.System.GetUtcNow());
}
