using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using StackExchange.Redis;

namespace AsyncUtils.Redis.ProcessTests.App;

/// <summary>
/// The mode that runs a two-level cache shared by a fleet of processes:
/// <c>cache IMPL CONNECTION PREFIX SOURCE_DIR LEASE_MS</c>, where IMPL is <c>ours</c>
/// (<see cref="DistributedTaskCache{TValue}"/> over <see cref="RedisSecondLevelCache"/>), <c>hybrid</c>
/// (HybridCache over the Redis <c>IDistributedCache</c>) or <c>fusion</c> (FusionCache with the Redis
/// distributed cache and the Redis backplane); see <see cref="CacheUnderTest"/>.
/// <para>
/// The "database" behind the cache is SOURCE_DIR: the value of key K is the text of the file
/// SOURCE_DIR/K (<c>none</c> when it is missing), so the tests can change it while Redis is down. Each
/// call of the cached function counts itself with <c>INCR PREFIXcalls:K</c> in Redis (best effort)
/// and prints <c>called K VALUE REAL_US</c> when it starts; it then waits DELAY_MS (the command's) and
/// returns the value it read at its start.
/// </para>
/// Commands on standard input, one per line (times are real system time, Unix µs, comparable between
/// the processes of one machine):
/// <list type="bullet">
/// <item><c>get ID KEY CALLERS DELAY_MS</c>: CALLERS concurrent callers of KEY; prints
/// <c>got ID KEY ELAPSED_US VALUE=COUNT;VALUE=COUNT</c> when all have their value (or
/// <c>failed ID TYPE MESSAGE</c>).</item>
/// <item><c>invalidate ID KEY</c>: prints <c>invalidating ID REAL_US</c>, then <c>invalidated ID RESULT REAL_US</c>.</item>
/// <item><c>watch KEY</c>: reads KEY every millisecond and prints <c>seen KEY VALUE REAL_US</c> whenever the
/// value it is served changes (the first one included); <c>unwatch KEY</c> stops it.</item>
/// <item><c>l2read N KEYPREFIX</c>: reads KEYPREFIX0 .. KEYPREFIX(N-1) one after another (each an L1 miss) and
/// prints <c>l2read US,US,...</c> with the latency of each.</item>
/// <item><c>fill N KEYPREFIX</c>: the same keys, to put them into L2; prints <c>filled</c>.</item>
/// <item><c>exit</c>: prints <c>done</c>.</item>
/// </list>
/// Second-level failures are printed as <c>l2failed KEY TYPE</c> (ours only), and a connection that came back as
/// <c>restored CONNECTION_TYPE REAL_US</c>.
/// </summary>
public static class CacheMode
{
    /// <summary>Runs the mode until <c>exit</c>.</summary>
    public static async Task RunAsync(string[] args, Output output)
    {
        string impl = args[1];
        ConfigurationOptions configuration = ConfigurationOptions.Parse(args[2]);
        configuration.AbortOnConnectFail = false;
        await using ConnectionMultiplexer connection = await ConnectionMultiplexer.ConnectAsync(configuration);
        string prefix = args[3];
        string sourceDirectory = args[4];
        TimeSpan lease = TimeSpan.FromMilliseconds(double.Parse(args[5], CultureInfo.InvariantCulture));
        IDatabase database = connection.GetDatabase();

        async Task<string> LoadAsync(string key, int delayMs)
        {
            string path = Path.Combine(sourceDirectory, key);
            string value = File.Exists(path) ? (await File.ReadAllTextAsync(path)).Trim() : "none";
            output.Line(string.Create(CultureInfo.InvariantCulture, $"called {key} {value} {RealMicros()}"));
            try
            {
                // Not while Redis is down: the connection would queue the command until its timeout.
                if (connection.IsConnected)
                {
                    await database.StringIncrementAsync(prefix + "calls:" + key).WaitAsync(TimeSpan.FromSeconds(1));
                }
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // Redis down: the call still runs; the tests count the printed lines as well.
            }

            if (delayMs > 0)
            {
                await Task.Delay(delayMs);
            }

            return value;
        }

        await using CacheUnderTest cache = CacheUnderTest.Create(impl, connection, prefix, lease, output);
        connection.ConnectionRestored += (_, e) => output.Line(string.Create(CultureInfo.InvariantCulture, $"restored {e.ConnectionType} {RealMicros()}"));
        var watchers = new ConcurrentDictionary<string, CancellationTokenSource>();
        var pending = new List<Task>();
        output.Line($"ready {Environment.ProcessId}");
        while (await Console.In.ReadLineAsync() is { } line)
        {
            string[] parts = line.Split(' ');
            switch (parts[0])
            {
                case "get":
                    pending.Add(GetAsync(cache, parts[1], parts[2], Int(parts[3]), Int(parts[4]), LoadAsync, output));
                    break;
                case "invalidate":
                    pending.Add(InvalidateAsync(cache, parts[1], parts[2], output));
                    break;
                case "watch":
                    var stop = new CancellationTokenSource();
                    watchers[parts[1]] = stop;
                    pending.Add(Task.Run(() => WatchAsync(cache, parts[1], LoadAsync, output, stop.Token)));
                    break;
                case "unwatch":
                    if (watchers.TryRemove(parts[1], out CancellationTokenSource? watcher))
                    {
                        await watcher.CancelAsync();
                    }

                    break;
                case "fill" or "l2read":
                    pending.Add(ReadManyAsync(cache, parts[0], Int(parts[1]), parts[2], LoadAsync, output));
                    break;
                case "exit":
                    foreach (CancellationTokenSource source in watchers.Values)
                    {
                        await source.CancelAsync();
                    }

                    await Task.WhenAll(pending).WaitAsync(TimeSpan.FromSeconds(20));
                    output.Line("done");
                    return;
            }
        }
    }

    /// <summary>Unix microseconds now, on the system clock.</summary>
    public static long RealMicros() => OursMode.UnixMicros(TimeProvider.System.GetUtcNow());

    private static int Int(string text) => int.Parse(text, CultureInfo.InvariantCulture);

    private static async Task GetAsync(
        CacheUnderTest cache, string id, string key, int callers, int delayMs, Func<string, int, Task<string>> load, Output output)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            Task<string>[] gets = [.. Enumerable.Range(0, callers).Select(_ => Task.Run(() => cache.GetAsync(key, k => load(k, delayMs))))];
            string[] values = await Task.WhenAll(gets);
            long elapsed = (long)Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            string counts = string.Join(';', values.GroupBy(v => v).Select(g => $"{g.Key}={g.Count()}"));
            output.Line(string.Create(CultureInfo.InvariantCulture, $"got {id} {key} {elapsed} {counts}"));
        }
        catch (Exception ex)
        {
            output.Line($"failed {id} {ex.GetType().Name} {ex.Message.ReplaceLineEndings(" ")}");
        }
    }

    private static async Task InvalidateAsync(CacheUnderTest cache, string id, string key, Output output)
    {
        output.Line(string.Create(CultureInfo.InvariantCulture, $"invalidating {id} {RealMicros()}"));
        try
        {
            bool result = await cache.InvalidateAsync(key);
            output.Line(string.Create(CultureInfo.InvariantCulture, $"invalidated {id} {result} {RealMicros()}"));
        }
        catch (Exception ex)
        {
            output.Line($"failed {id} {ex.GetType().Name} {ex.Message.ReplaceLineEndings(" ")}");
        }
    }

    private static async Task WatchAsync(CacheUnderTest cache, string key, Func<string, int, Task<string>> load, Output output, CancellationToken stop)
    {
        string? last = null;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(1));
        try
        {
            do
            {
                string value;
                try
                {
                    value = await cache.GetAsync(key, k => load(k, 0));
                }
                catch (Exception ex)
                {
                    value = "error:" + ex.GetType().Name;
                }

                if (value != last)
                {
                    last = value;
                    output.Line(string.Create(CultureInfo.InvariantCulture, $"seen {key} {value} {RealMicros()}"));
                }
            }
            while (await timer.WaitForNextTickAsync(stop));
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static async Task ReadManyAsync(
        CacheUnderTest cache, string command, int count, string keyPrefix, Func<string, int, Task<string>> load, Output output)
    {
        var latencies = new StringBuilder();
        for (int i = 0; i < count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            await cache.GetAsync(keyPrefix + i.ToString(CultureInfo.InvariantCulture), k => load(k, 0));
            long micros = (long)Stopwatch.GetElapsedTime(start).TotalMicroseconds;
            latencies.Append(latencies.Length == 0 ? string.Empty : ",").Append(micros.ToString(CultureInfo.InvariantCulture));
        }

        output.Line(command == "fill" ? "filled" : $"l2read {latencies}");
    }
}
