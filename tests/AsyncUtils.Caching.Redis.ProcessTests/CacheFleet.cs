using System.Globalization;
using AsyncUtils.Testing;
using StackExchange.Redis;

namespace AsyncUtils.Tests;

/// <summary>
/// N worker processes (tests/AsyncUtils.Redis.ProcessTests.App, mode <c>cache</c>) sharing one cache
/// through one redis-server, each with its own connection; the "database" behind the cache is a
/// temporary folder of one file per key (see CacheMode.cs in the app), so it survives a Redis restart.
/// </summary>
internal sealed class CacheFleet : IAsyncDisposable
{
    private static int s_nextId;
    private readonly List<AppProcess> _processes = [];

    private CacheFleet(RedisServer server, string impl, string prefix, TimeSpan lease)
    {
        Server = server;
        Impl = impl;
        Prefix = prefix;
        Lease = lease;
        SourceDirectory = Path.Combine(Path.GetTempPath(), "asyncutils-cache-source-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(SourceDirectory);
    }

    public RedisServer Server { get; }

    public string Impl { get; }

    /// <summary>The key prefix (and channel prefix) of this fleet's cache: unique per fleet.</summary>
    public string Prefix { get; }

    public TimeSpan Lease { get; }

    public string SourceDirectory { get; }

    public AppProcess this[int index] => _processes[index];

    public int Count => _processes.Count;

    /// <summary>Starts <paramref name="processes"/> workers and waits until each is ready.</summary>
    public static async Task<CacheFleet> StartAsync(RedisServer server, int processes, TimeSpan lease, string impl = "ours")
    {
        var fleet = new CacheFleet(server, impl, $"cachetest:{Guid.NewGuid():N}:", lease);
        try
        {
            for (int i = 0; i < processes; i++)
            {
                fleet.Add();
            }

            foreach (AppProcess process in fleet._processes)
            {
                await process.WaitForLineStartingAsync("ready");
            }

            return fleet;
        }
        catch
        {
            await fleet.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts one more worker on the same cache (not waited for).</summary>
    public AppProcess Add()
    {
        int index = _processes.Count;
        AppProcess process = AppProcess.Start(AppProcess.TestApp, $"{Impl} cache process {index}",
            "cache", Impl, Server.ConnectionString, Prefix, SourceDirectory, Text((long)Lease.TotalMilliseconds));
        _processes.Add(process);
        return process;
    }

    /// <summary>Sets the value the function reads for <paramref name="key"/> (the "database").</summary>
    public void SetSource(string key, string value) => File.WriteAllText(Path.Combine(SourceDirectory, key), value);

    /// <summary>Sends <c>get</c> to process <paramref name="index"/> and returns the command's id (wait with <see cref="WaitGotAsync"/>).</summary>
    public async Task<string> SendGetAsync(int index, string key, int callers = 1, int delayMs = 0)
    {
        string id = NextId("g");
        await _processes[index].WriteLineAsync($"get {id} {key} {Text(callers)} {Text(delayMs)}");
        return id;
    }

    /// <summary>Waits for the answer to a <c>get</c>: the values its callers got (value to count) and how long it took.</summary>
    public async Task<(Dictionary<string, int> Values, TimeSpan Elapsed)> WaitGotAsync(int index, string id, TimeSpan? within = null)
    {
        string line = await _processes[index].WaitForLineAsync(
            l => l.StartsWith($"got {id} ", StringComparison.Ordinal) || l.StartsWith($"failed {id} ", StringComparison.Ordinal),
            $"the answer to {id}", within);
        Assert.That(line, Does.StartWith("got "), $"{_processes[index].Label}: {line}");
        string[] parts = line.Split(' ');
        var values = parts[4].Split(';').Select(p => p.Split('=')).ToDictionary(p => p[0], p => int.Parse(p[1], CultureInfo.InvariantCulture));
        return (values, TimeSpan.FromMicroseconds(long.Parse(parts[3], CultureInfo.InvariantCulture)));
    }

    /// <summary>One caller's value of <paramref name="key"/> in process <paramref name="index"/>.</summary>
    public async Task<string> GetAsync(int index, string key, TimeSpan? within = null)
    {
        string id = await SendGetAsync(index, key);
        (Dictionary<string, int> values, _) = await WaitGotAsync(index, id, within);
        return values.Single().Key;
    }

    /// <summary>Sends <c>invalidate</c> to process <paramref name="index"/>; returns when it printed <c>invalidating</c> (its time) and <c>invalidated</c> (its result).</summary>
    public async Task<(long InvalidatingMicros, bool Result)> InvalidateAsync(int index, string key)
    {
        string id = NextId("i");
        await _processes[index].WriteLineAsync($"invalidate {id} {key}");
        string start = await _processes[index].WaitForLineStartingAsync($"invalidating {id} ");
        string end = await _processes[index].WaitForLineAsync(
            l => l.StartsWith($"invalidated {id} ", StringComparison.Ordinal) || l.StartsWith($"failed {id} ", StringComparison.Ordinal), $"the end of {id}");
        Assert.That(end, Does.StartWith("invalidated "), $"{_processes[index].Label}: {end}");
        return (long.Parse(start.Split(' ')[2], CultureInfo.InvariantCulture), bool.Parse(end.Split(' ')[2]));
    }

    /// <summary>The calls of the function for <paramref name="key"/> that every process printed (<c>called KEY VALUE US</c>).</summary>
    public List<(int Process, string Value, long Micros)> Calls(string key)
    {
        var calls = new List<(int, string, long)>();
        for (int i = 0; i < _processes.Count; i++)
        {
            foreach (string line in _processes[i].Lines)
            {
                string[] parts = line.Split(' ');
                if (parts.Length == 4 && parts[0] == "called" && parts[1] == key)
                {
                    calls.Add((i, parts[2], long.Parse(parts[3], CultureInfo.InvariantCulture)));
                }
            }
        }

        return calls;
    }

    /// <summary>The <c>seen KEY VALUE US</c> lines of process <paramref name="index"/>, in order.</summary>
    public List<(string Value, long Micros)> Seen(int index, string key) =>
        [.. _processes[index].Lines
            .Select(l => l.Split(' '))
            .Where(p => p.Length == 4 && p[0] == "seen" && p[1] == key)
            .Select(p => (p[2], long.Parse(p[3], CultureInfo.InvariantCulture)))];

    /// <summary>The calls counted in Redis by the function's <c>INCR</c>.</summary>
    public async Task<long> RedisCallsAsync(IConnectionMultiplexer connection, string key) =>
        (long?)await connection.GetDatabase().StringGetAsync(Prefix + "calls:" + key) ?? 0;

    /// <summary>The value the second level holds for <paramref name="key"/> (ours: <c>prefix{key}</c>), or null.</summary>
    public async Task<string?> StoredValueAsync(IConnectionMultiplexer connection, string key) =>
        await connection.GetDatabase().StringGetAsync(Prefix + "{" + key + "}");

    public static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string NextId(string kind) => kind + Interlocked.Increment(ref s_nextId).ToString(CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync()
    {
        foreach (AppProcess process in _processes)
        {
            try
            {
                await process.WriteLineAsync("exit");
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException)
            {
                // Already gone (killed by the test).
            }
        }

        foreach (AppProcess process in _processes)
        {
            await process.DisposeAsync();
        }

        try
        {
            Directory.Delete(SourceDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
