using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using StackExchange.Redis;

namespace AsyncUtils.Redis.ProcessTests.App;

/// <summary>
/// Puts a probe between RedisRateLimiting 1.2.1 and its Redis connection, for the two things the
/// library does not let us reach otherwise.
/// <para>
/// Clock skew: <c>RedisSlidingWindowManager.TryAcquireLeaseAsync</c> reads
/// <c>DateTimeOffset.UtcNow</c> directly (no TimeProvider) and passes it as the script argument
/// <c>current_time</c> (Unix seconds, millisecond precision). That argument is the only clock
/// reading that reaches Redis, so the probe adds the skew to it: the script then runs exactly as it
/// would in a process whose clock is off by that much.
/// </para>
/// <para>
/// Decision time: the library reports no server time. The probe sends the library's own script call
/// and a <c>TIME</c> inside one <c>MULTI</c>/<c>EXEC</c>, which Redis runs back to back with nothing in
/// between, so the <c>TIME</c> reply is the server clock at the moment of the decision (to the
/// microsecond), in the same round trip. A <c>TIME</c> sent after the grant would come one round trip
/// (and whatever the server did meanwhile) late, and could shift grants across window edges.
/// </para>
/// </summary>
public static class RedisRateLimitingProbe
{
    private static readonly AsyncLocal<StrongBox<long>?> s_grantTime = new();

    /// <summary>
    /// Where the probe writes the server decision time (Unix microseconds) of a granted attempt made
    /// by the current async flow; set once per caller before it calls the limiter.
    /// </summary>
    public static StrongBox<long>? GrantTime
    {
        get => s_grantTime.Value;
        set => s_grantTime.Value = value;
    }

    /// <summary>A connection that behaves like <paramref name="inner"/> except for the probe on script calls.</summary>
    public static IConnectionMultiplexer Wrap(IConnectionMultiplexer inner, TimeSpan skew)
    {
        ArgumentNullException.ThrowIfNull(inner);
        IDatabase database = DatabaseProbe.Create(inner.GetDatabase(), skew.TotalSeconds);
        IConnectionMultiplexer connection = DispatchProxy.Create<IConnectionMultiplexer, ConnectionProbe>();
        var probe = (ConnectionProbe)(object)connection;
        probe.Inner = inner;
        probe.Database = database;
        return connection;
    }

    internal static object? Forward(MethodInfo method, object target, object?[]? args)
    {
        try
        {
            return method.Invoke(target, args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }
}

/// <summary>Forwards every call to the real connection except <c>GetDatabase</c>, which returns the probed database.</summary>
public class ConnectionProbe : DispatchProxy
{
    internal IConnectionMultiplexer Inner { get; set; } = null!;

    internal IDatabase Database { get; set; } = null!;

    /// <inheritdoc />
    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        return targetMethod.Name == nameof(IConnectionMultiplexer.GetDatabase)
            ? Database
            : RedisRateLimitingProbe.Forward(targetMethod, Inner, args);
    }
}

/// <summary>Forwards every call to the real database except the library's script call (see <see cref="RedisRateLimitingProbe"/>).</summary>
public class DatabaseProbe : DispatchProxy
{
    private IDatabase _inner = null!;
    private double _skewSeconds;

    internal static IDatabase Create(IDatabase inner, double skewSeconds)
    {
        IDatabase database = DispatchProxy.Create<IDatabase, DatabaseProbe>();
        var probe = (DatabaseProbe)(object)database;
        probe._inner = inner;
        probe._skewSeconds = skewSeconds;
        return database;
    }

    /// <inheritdoc />
    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        if (targetMethod.Name == nameof(IDatabase.ScriptEvaluateAsync) && args is [LuaScript script, { } parameters, CommandFlags flags])
        {
            return EvaluateAsync(script, parameters, flags);
        }

        if (targetMethod.Name == nameof(IDatabase.ScriptEvaluate))
        {
            throw new InvalidOperationException("The process tests only use the asynchronous path of RedisRateLimiting.");
        }

        return RedisRateLimitingProbe.Forward(targetMethod, _inner, args);
    }

    private async Task<RedisResult> EvaluateAsync(LuaScript script, object parameters, CommandFlags flags)
    {
        RequestCounter.Count(); // one round trip: MULTI, the script, TIME and EXEC go out in one write
        StrongBox<long>? grantTime = RedisRateLimitingProbe.GrantTime;
        object shifted = Shift(parameters);
        ITransaction transaction = _inner.CreateTransaction();
        Task<RedisResult> decision = transaction.ScriptEvaluateAsync(script, shifted, flags);
        Task<RedisResult> time = transaction.ExecuteAsync("TIME");
        await transaction.ExecuteAsync(flags).ConfigureAwait(false);
        RedisResult result = await decision.ConfigureAwait(false);
        var values = (RedisValue[]?)result;
        if (grantTime is not null && values is { Length: > 0 } && (bool)values[0])
        {
            var clock = (RedisValue[]?)await time.ConfigureAwait(false);
            grantTime.Value = ((long)clock![0] * 1_000_000) + (long)clock[1];
        }

        return result;
    }

    // RedisRateLimiting 1.2.1 passes an anonymous object; rebuild it with current_time moved by the skew.
    private object Shift(object parameters)
    {
        T Get<T>(string name) =>
            parameters.GetType().GetProperty(name)?.GetValue(parameters) is T value
                ? value
                : throw new InvalidOperationException($"RedisRateLimiting's script parameter '{name}' was not found: the probe was written for version 1.2.1.");

        return new
        {
            rate_limit_key = Get<RedisKey>("rate_limit_key"),
            stats_key = Get<RedisKey>("stats_key"),
            permit_limit = Get<RedisValue>("permit_limit"),
            window = Get<RedisValue>("window"),
            current_time = (RedisValue)((double)Get<RedisValue>("current_time") + _skewSeconds),
            unique_id = Get<RedisValue>("unique_id"),
        };
    }
}

/// <summary>
/// Counts the requests a limiter sends to Redis: every <c>...Async</c> call it makes on the
/// database, subscriber or server objects of the connection. The server's own counters cannot tell
/// a client's request from the commands a Lua script runs, so the round trips are counted here.
/// </summary>
public static class RequestCounter
{
    private static long s_requests;

    /// <summary>The requests counted so far in this process.</summary>
    public static long Requests => Interlocked.Read(ref s_requests);

    /// <summary>A connection that behaves like <paramref name="inner"/> and counts the requests made through it.</summary>
    public static IConnectionMultiplexer Wrap(IConnectionMultiplexer inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        IConnectionMultiplexer connection = DispatchProxy.Create<IConnectionMultiplexer, CountingConnection>();
        ((CountingConnection)(object)connection).Inner = inner;
        return connection;
    }

    internal static void Count() => Interlocked.Increment(ref s_requests);

    internal static T Counting<T>(T inner)
        where T : class
    {
        T proxy = DispatchProxy.Create<T, CountingProxy>();
        ((CountingProxy)(object)proxy).Inner = inner;
        return proxy;
    }
}

/// <summary>Hands out counting database, subscriber and server objects; forwards everything else.</summary>
public class CountingConnection : DispatchProxy
{
    internal IConnectionMultiplexer Inner { get; set; } = null!;

    /// <inheritdoc />
    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        object? result = RedisRateLimitingProbe.Forward(targetMethod, Inner, args);
        return result switch
        {
            IDatabase database => RequestCounter.Counting(database),
            ISubscriber subscriber => RequestCounter.Counting(subscriber),
            IServer server => RequestCounter.Counting(server),
            _ => result,
        };
    }
}

/// <summary>Counts every <c>...Async</c> call and forwards it.</summary>
public class CountingProxy : DispatchProxy
{
    internal object Inner { get; set; } = null!;

    /// <inheritdoc />
    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        if (targetMethod.Name.EndsWith("Async", StringComparison.Ordinal))
        {
            RequestCounter.Count();
        }

        return RedisRateLimitingProbe.Forward(targetMethod, Inner, args);
    }
}
