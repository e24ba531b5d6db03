using System.Globalization;
using System.Threading.RateLimiting;
using RedisRateLimiting;
using StackExchange.Redis;

namespace AsyncUtils.Redis.ProcessTests.App;

/// <summary>
/// A worker process for the Redis process tests and the benchmark against RedisRateLimiting.
/// <code>
/// dotnet App.dll ours|redisratelimiting CONNECTION NAME LIMIT WINDOW_MS CALLERS DURATION_MS SKEW_MS
/// </code>
/// connects (its own connection), builds the limiter (ours: RedisSlidingLogRateLimiter with a queue
/// for every caller; redisratelimiting: RedisSlidingWindowRateLimiter, which has no queue), prints
/// <c>ready</c>, waits for <c>go</c> on standard input so that all processes start together, runs
/// CALLERS callers for DURATION_MS (see <see cref="LoadRun"/>) on a clock SKEW_MS ahead, and prints:
/// <list type="bullet">
/// <item><c>grant CALLER SERVER_US WAIT_US CALLS</c>: a grant, its server decision time (Unix µs), how long
/// the caller waited for it and how many limiter calls it took;</item>
/// <item><c>unfinished CALLER WAIT_US CALLS</c>: a caller still waiting when the run ended;</item>
/// <item><c>error CALLER MESSAGE</c>, <c>refusalreason COUNT REASON</c>;</item>
/// <item><c>calllatency US,US,...</c>: the latency of every limiter call;</item>
/// <item><c>summary grants=G calls=C refusals=R errors=E requests=Q</c> (Q: requests sent to Redis, see
/// <see cref="RequestCounter"/>) and finally <c>done</c>.</item>
/// </list>
/// For ours, LIMIT and WINDOW_MS may be comma-separated lists (several windows at once).
/// <c>redisratelimiting-unprobed</c> runs RedisRateLimiting without the probe of
/// <see cref="RedisRateLimitingProbe"/> (so without decision times or skew), to measure the library's
/// own call latency.
/// <c>ours-script CONNECTION NAME LIMITS WINDOWS_MS QUEUE_LIMIT SKEW_MS [TICKET_TIMEOUT_MS]</c> takes
/// commands on standard input instead (see <see cref="OursMode.ScriptAsync"/>);
/// <c>lockout CONNECTION NAME SKEW_MS</c> runs a fleet-wide lockout (see <see cref="LockoutMode"/>);
/// <c>cache IMPL CONNECTION PREFIX SOURCE_DIR LEASE_MS</c> runs a two-level cache, ours or an anchor (see <see cref="CacheMode"/>).
/// </summary>
public static class Program
{
    /// <summary>Runs one mode; returns 0 when it ran, 2 on bad arguments.</summary>
    public static async Task<int> Main(string[] args)
    {
        var output = new Output();
        if (args.Length < 1)
        {
            await Console.Error.WriteLineAsync("usage: App MODE ARGS... (see Program.cs)");
            return 2;
        }

        switch (args[0])
        {
            case "redisratelimiting" or "redisratelimiting-unprobed" when args.Length == 8:
                await RedisRateLimitingLoadAsync(args, output);
                return 0;
            case "ours" when args.Length == 8:
                await OursLoadAsync(args, output);
                return 0;
            case "ours-script" when args.Length is 7 or 8:
                await OursScriptAsync(args);
                return 0;
            case "lockout" when args.Length == 4:
                await LockoutMode.RunAsync(args, output);
                return 0;
            case "cache" when args.Length == 6:
                await CacheMode.RunAsync(args, output);
                return 0;
            default:
                await Console.Error.WriteLineAsync($"unknown mode or wrong arguments: {string.Join(' ', args)}");
                return 2;
        }
    }

    private static int Int(string text) => int.Parse(text, CultureInfo.InvariantCulture);

    private static TimeSpan Millis(string text) => TimeSpan.FromMilliseconds(double.Parse(text, CultureInfo.InvariantCulture));

    private static async Task<ConnectionMultiplexer> ConnectAsync(string configuration)
    {
        ConfigurationOptions options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = false;
        return await ConnectionMultiplexer.ConnectAsync(options);
    }

    private static async Task WaitForGoAsync(Output output)
    {
        output.Line($"ready {Environment.ProcessId}");
        while (await Console.In.ReadLineAsync() is { } line)
        {
            if (line == "go")
            {
                return;
            }
        }
    }

    private static async Task OursLoadAsync(string[] args, Output output)
    {
        int callers = Int(args[5]);
        await using ConnectionMultiplexer connection = await ConnectAsync(args[1]);
        await using RedisSlidingLogRateLimiter limiter = OursMode.Create(
            connection, args[2], OursMode.Windows(args[3], args[4]), queueLimit: callers, skew: Millis(args[7]));
        var run = new LoadRun(stop => OursMode.AttemptAsync(limiter, 1, stop), output);
        await WaitForGoAsync(output);
        await run.RunAsync(callers, Millis(args[6]));
        output.Line("done");
    }

    // ours-script CONNECTION NAME LIMITS WINDOWS_MS QUEUE_LIMIT SKEW_MS [TICKET_TIMEOUT_MS]
    private static async Task OursScriptAsync(string[] args)
    {
        await using ConnectionMultiplexer connection = await ConnectAsync(args[1]);
        await using RedisSlidingLogRateLimiter limiter = OursMode.Create(
            connection, args[2], OursMode.Windows(args[3], args[4]), Int(args[5]), Millis(args[6]),
            args.Length == 8 ? Millis(args[7]) : null);
        await OursMode.ScriptAsync(limiter, new Output());
    }

    private static async Task RedisRateLimitingLoadAsync(string[] args, Output output)
    {
        string name = args[2];
        int limit = Int(args[3]);
        TimeSpan window = Millis(args[4]);
        int callers = Int(args[5]);
        TimeSpan duration = Millis(args[6]);
        TimeSpan skew = Millis(args[7]);

        await using ConnectionMultiplexer connection = await ConnectAsync(args[1]);

        // Unprobed: the library on the bare connection, for its own call latency (no decision times, no skew).
        bool unprobed = args[0] == "redisratelimiting-unprobed";
        IConnectionMultiplexer probed = unprobed ? connection : RedisRateLimitingProbe.Wrap(connection, skew);
        using var limiter = new RedisSlidingWindowRateLimiter<string>(name, new RedisSlidingWindowRateLimiterOptions
        {
            PermitLimit = limit,
            Window = window,
            ConnectionMultiplexerFactory = () => probed,
        });

        var run = new LoadRun(
            async stop =>
            {
                // The library has no queue and no retry-after: a refused caller can only ask again.
                using RateLimitLease lease = await limiter.AcquireAsync(1, stop);
                if (unprobed)
                {
                    RequestCounter.Count(); // the library sends exactly one script call per acquire
                }

                return new Attempt(lease.IsAcquired, 0, null, null);
            },
            output);
        await WaitForGoAsync(output);
        await run.RunAsync(callers, duration);
        output.Line("done");
    }
}
