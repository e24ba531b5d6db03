using System.Diagnostics;
using AsyncUtils.Testing;
using StackExchange.Redis;

namespace AsyncUtils.Lockout.Redis.Tests;

/// <summary>
/// Each test gets its own redis-server (so tests may kill and restart it) and simulates processes
/// with separate <see cref="ConnectionMultiplexer"/> instances, each with its own <see cref="RedisLockout"/>.
/// </summary>
public abstract class RedisLockoutTestBase
{
    /// <summary>How long a condition that must come true (propagation, reconnect) may take on a loaded machine.</summary>
    protected static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    private readonly List<IDisposable> _disposables = [];

    private protected RedisServer Server { get; private set; } = null!;

    /// <summary>A name no other test uses.</summary>
    protected string Name { get; private set; } = null!;

    protected string Key => "asyncutils:lockout:{" + Name + "}:until";

    protected string Channel => "asyncutils:lockout:{" + Name + "}:events";

    [SetUp]
    public void StartServer()
    {
        Server = RedisServer.Start();
        Name = "test-" + Guid.NewGuid().ToString("N");
    }

    [TearDown]
    public void StopServer()
    {
        for (int i = _disposables.Count - 1; i >= 0; i--)
        {
            _disposables[i].Dispose();
        }

        _disposables.Clear();
        Server.Dispose();
    }

    /// <summary>A new connection: one simulated process.</summary>
    protected async Task<ConnectionMultiplexer> ConnectAsync()
    {
        ConnectionMultiplexer connection = await ConnectionMultiplexer.ConnectAsync(Server.ConnectionString);
        _disposables.Add(connection);
        return connection;
    }

    /// <summary>A new process (its own connection) with a lockout on <see cref="Name"/>.</summary>
    protected async Task<RedisLockout> ProcessAsync(TimeProvider? time = null, Action<RedisLockoutOptions>? configure = null)
    {
        ConnectionMultiplexer connection = await ConnectAsync();
        return await LockoutOnAsync(connection, time, configure);
    }

    protected async Task<RedisLockout> LockoutOnAsync(IConnectionMultiplexer connection, TimeProvider? time = null, Action<RedisLockoutOptions>? configure = null)
    {
        var options = new RedisLockoutOptions { Name = Name, Local = new LockoutOptions { TimeProvider = time } };
        configure?.Invoke(options);
        RedisLockout lockout = await RedisLockout.CreateAsync(connection, options);
        _disposables.Add(lockout);
        return lockout;
    }

    /// <summary>Waits until <paramref name="condition"/> holds; fails after <paramref name="timeout"/>. Returns the time it took.</summary>
    protected static async Task<TimeSpan> WaitUntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var watch = Stopwatch.StartNew();
        TimeSpan limit = timeout ?? Patience;
        while (!Holds(condition))
        {
            if (watch.Elapsed > limit)
            {
                Assert.Fail($"Timed out after {limit} waiting until {what}.");
            }

            await Task.Delay(1);
        }

        return watch.Elapsed;

        // A condition that asks Redis (through a test's own connection) may meet a connection that is
        // still coming back after a restart: that is "not yet".
        static bool Holds(Func<bool> condition)
        {
            try
            {
                return condition();
            }
            catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException)
            {
                return false;
            }
        }
    }

    /// <summary>Sets the shared end on the server to its now plus <paramref name="milliseconds"/>, without publishing (as a lost message would leave it).</summary>
    protected void SetKeySilently(int milliseconds) =>
        Assert.That(
            Server.Command(
                "EVAL",
                "local t = redis.call('TIME') local e = tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[1]) * 1000 " +
                "redis.call('SET', KEYS[1], string.format('%.0f', e), 'PX', ARGV[1]) return 1",
                "1",
                Key,
                milliseconds.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            Is.EqualTo(":1"));

    /// <summary>The shared end the key holds, as a time on the real clock, or null.</summary>
    protected async Task<DateTimeOffset?> SharedEndAsync(IConnectionMultiplexer connection)
    {
        RedisValue value = await connection.GetDatabase().StringGetAsync(Key);
        return value.IsNull ? null : DateTimeOffset.UnixEpoch.AddTicks((long)value * 10);
    }

    /// <summary>The remaining time of a lockout's local gate, on its own clock.</summary>
    protected static TimeSpan Remaining(RedisLockout lockout, TimeProvider? time = null) =>
        lockout.LockedUntil is DateTimeOffset until ? until - (time ?? TimeProvider.System).GetUtcNow() : TimeSpan.Zero;
}

/// <summary>The system clock shifted by a fixed offset (wall clock only; timers keep real durations).</summary>
internal sealed class SkewedTimeProvider(TimeSpan skew) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + skew;
}
