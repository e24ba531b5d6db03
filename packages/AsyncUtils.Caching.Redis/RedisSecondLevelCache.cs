using System.Collections.Concurrent;
using System.Globalization;
using StackExchange.Redis;

namespace AsyncUtils;

/// <summary>
/// An <see cref="ISecondLevelCache"/> in Redis that coordinates a fleet of processes: values, a per-key
/// version and a per-key lease live in Redis, and one channel carries invalidations, new writes and
/// completions.
/// </summary>
/// <remarks>
/// <para><b>Backplane.</b> An invalidation or a new write is published; every other process drops its L1 entry
/// and re-reads L2 lazily on the next request. After a lost connection comes back, every L1 is cleared
/// (messages sent meanwhile were lost).</para>
/// <para><b>One call per key across processes.</b> On an L2 miss a process takes a lease on the key, unless the value appeared meanwhile
/// (<c>SET NX PX</c>, <see cref="LeaseDuration"/>); the others wait for its completion message, bounded by the
/// lease's remaining time, then read L2 again. A dead owner's lease expires and another process takes over.
/// A call that runs longer than the lease lets a second process start a call.</para>
/// <para><b>Invalidation wins.</b> <see cref="ISecondLevelCache.InvalidateAsync"/> bumps the key's version and
/// deletes the value in one script; a call stores its result through one compare-and-set script that writes
/// only if the version is still the one read before the call. A call that started before an invalidation
/// never writes its stale result, on any process.</para>
/// <para><b>Redis down.</b> Reads are misses, every process calls for itself, nothing is written, invalidations
/// only reach the local L1 (reported as failures); the caches keep serving from L1 and recover on their own.</para>
/// <para>Keys: <c>prefix{key}</c> (value), <c>prefix{key}:ver</c> (version, no expiry: one small key per
/// invalidated key), <c>prefix{key}:lease</c>, braces included so that a key's three live on one cluster slot;
/// channel <c>prefix + "events"</c>.</para>
/// </remarks>
public sealed class RedisSecondLevelCache : ISecondLevelCache, IDisposable
{
    // KEYS: value, version, lease. ARGV: expected version, bytes (or empty with flag 0), ttl ms (0 = none),
    // lease token, channel, message suffix (instance + key), write flag.
    private const string EndScript = """
        local written = 0
        if ARGV[7] == '1' then
          local current = redis.call('GET', KEYS[2]) or '0'
          if current == ARGV[1] then
            if tonumber(ARGV[3]) > 0 then
              redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
            else
              redis.call('SET', KEYS[1], ARGV[2])
            end
            written = 1
          end
        end
        if redis.call('GET', KEYS[3]) == ARGV[4] then
          redis.call('DEL', KEYS[3])
        end
        if written == 1 then
          redis.call('PUBLISH', ARGV[5], 'w' .. ARGV[6])
        else
          redis.call('PUBLISH', ARGV[5], 'd' .. ARGV[6])
        end
        return written
        """;

    // KEYS: value, lease. ARGV: lease token, lease ms. Returns -10 when the value exists (read again),
    // -20 when the lease was taken, else the remaining lease in milliseconds.
    private const string BeginScript = """
        if redis.call('EXISTS', KEYS[1]) == 1 then
          return -10
        end
        if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
          return -20
        end
        return redis.call('PTTL', KEYS[2])
        """;

    // KEYS: value, version. ARGV: channel, message suffix.
    private const string InvalidateScript = """
        redis.call('INCR', KEYS[2])
        redis.call('DEL', KEYS[1])
        redis.call('PUBLISH', ARGV[1], 'i' .. ARGV[2])
        return 1
        """;

    private const int InstanceIdLength = 32;
    private readonly IConnectionMultiplexer _connection;
    private readonly IDatabase _database;
    private readonly ISubscriber _subscriber;
    private readonly RedisChannel _channel;
    private readonly string _keyPrefix;
    private readonly string _instanceId = Guid.NewGuid().ToString("N");
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _waiters = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _leases = new(StringComparer.Ordinal);
    private readonly Action<RedisChannel, RedisValue> _onMessage;
    private readonly EventHandler<ConnectionFailedEventArgs> _onRestored;
    private readonly object _subscribersLock = new();
    private Action<string?>[] _subscribers = [];
    private bool _disposed;

    /// <summary>Creates the level over an existing connection and subscribes to its channel (without waiting for Redis).</summary>
    /// <param name="connection">The connection; create it with <c>abortConnect=false</c> so that the process starts with Redis down.</param>
    /// <param name="keyPrefix">Put in front of every key and of the channel name; processes that share a cache use the same prefix.</param>
    /// <param name="leaseDuration">How long one process may hold a key's call before another takes over (default 30 seconds).</param>
    /// <exception cref="ArgumentNullException"><paramref name="connection"/> or <paramref name="keyPrefix"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="leaseDuration"/> is not positive.</exception>
    public RedisSecondLevelCache(IConnectionMultiplexer connection, string keyPrefix = "asyncutils:cache:", TimeSpan? leaseDuration = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(keyPrefix);
        TimeSpan lease = leaseDuration ?? TimeSpan.FromSeconds(30);
        if (lease <= TimeSpan.Zero || lease.TotalMilliseconds > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(leaseDuration), lease, "The lease duration must be positive.");
        }

        LeaseDuration = lease;
        _connection = connection;
        _database = connection.GetDatabase();
        _subscriber = connection.GetSubscriber();
        _keyPrefix = keyPrefix;
        _channel = RedisChannel.Literal(keyPrefix + "events");
        _onMessage = OnMessage;
        _onRestored = OnConnectionRestored;
        _connection.ConnectionRestored += _onRestored;
        Task subscribed = _subscriber.SubscribeAsync(_channel, _onMessage);

        // With Redis down the subscription is made when the connection comes back.
        _ = subscribed.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>How long one process may hold a key's call before another process takes over.</summary>
    public TimeSpan LeaseDuration { get; }

    /// <inheritdoc />
    public async ValueTask<SecondLevelEntry> ReadAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        ThrowIfDown();
        RedisValue[] values = await _database.StringGetAsync([ValueKey(key), VersionKey(key)]).WaitAsync(cancellationToken).ConfigureAwait(false);
        long version = values[1].IsNull ? 0 : long.Parse((string)values[1]!, CultureInfo.InvariantCulture);
        return new SecondLevelEntry(values[0].IsNull ? null : (byte[]?)values[0], version);
    }

    /// <inheritdoc />
    public async ValueTask<bool> TryBeginCallAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        ThrowIfDown();

        // Registered before the attempt, so that a completion published right after it is not missed.
        TaskCompletionSource waiter = _waiters.GetOrAdd(key, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        string token = Guid.NewGuid().ToString("N");
        try
        {
            // One script: a value written since our read means "read again" (never a second call), else
            // take the lease, else learn how long the owner may still hold it.
            long outcome = (long)await _database.ScriptEvaluateAsync(
                BeginScript,
                [ValueKey(key), LeaseKey(key)],
                [token, (long)LeaseDuration.TotalMilliseconds]).WaitAsync(cancellationToken).ConfigureAwait(false);
            if (outcome == -20)
            {
                _leases[key] = token;
                return true;
            }

            if (outcome < 0)
            {
                return false; // the value exists, or the lease was released meanwhile: read again
            }

            TimeSpan wait = TimeSpan.FromMilliseconds(outcome);
            if (wait > LeaseDuration)
            {
                wait = LeaseDuration;
            }

            try
            {
                await waiter.Task.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // The owner died or is slow: read again, and take over if the lease is gone.
            }

            return false;
        }
        finally
        {
            _waiters.TryRemove(new KeyValuePair<string, TaskCompletionSource>(key, waiter));
        }
    }

    /// <inheritdoc />
    public async ValueTask<bool> EndCallAsync(string key, long version, ReadOnlyMemory<byte>? value, TimeSpan? timeToLive)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!_leases.TryRemove(key, out string? token))
        {
            token = string.Empty; // not ours (begun while Redis was down): write under the version check only
        }

        ThrowIfDown();
        bool write = value is not null && version >= 0;
        long ttl = timeToLive is { } t ? Math.Max(1, (long)Math.Ceiling(t.TotalMilliseconds)) : 0;
        RedisResult result = await _database.ScriptEvaluateAsync(
            EndScript,
            [ValueKey(key), VersionKey(key), LeaseKey(key)],
            [
                version.ToString(CultureInfo.InvariantCulture),
                write ? value!.Value : ReadOnlyMemory<byte>.Empty,
                ttl,
                token,
                _channel.ToString(),
                _instanceId + key,
                write ? "1" : "0",
            ]).ConfigureAwait(false);
        return (int)result == 1;
    }

    /// <inheritdoc />
    public async ValueTask InvalidateAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        ThrowIfDown();
        await _database.ScriptEvaluateAsync(
            InvalidateScript,
            [ValueKey(key), VersionKey(key)],
            [_channel.ToString(), _instanceId + key]).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public IDisposable Subscribe(Action<string?> onInvalidated)
    {
        ArgumentNullException.ThrowIfNull(onInvalidated);
        lock (_subscribersLock)
        {
            _subscribers = [.. _subscribers, onInvalidated];
        }

        return new Subscription(this, onInvalidated);
    }

    /// <summary>Unsubscribes from the channel. The connection stays open (it is the caller's).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _connection.ConnectionRestored -= _onRestored;
        try
        {
            _subscriber.Unsubscribe(_channel, _onMessage, CommandFlags.FireAndForget);
        }
        catch (Exception ex) when (ex is RedisException or ObjectDisposedException)
        {
            // The connection is gone: nothing to unsubscribe.
        }
    }

    private void ThrowIfDown()
    {
        if (!_connection.IsConnected)
        {
            throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, "Redis is not connected; the cache works on its first level alone.");
        }
    }

    private RedisKey ValueKey(string key) => _keyPrefix + "{" + key + "}";

    private RedisKey VersionKey(string key) => _keyPrefix + "{" + key + "}:ver";

    private RedisKey LeaseKey(string key) => _keyPrefix + "{" + key + "}:lease";

    private void OnMessage(RedisChannel channel, RedisValue message)
    {
        string? text = message;
        if (text is null || text.Length < 1 + InstanceIdLength)
        {
            return;
        }

        char kind = text[0];
        bool fromSelf = string.CompareOrdinal(text, 1, _instanceId, 0, InstanceIdLength) == 0;
        string key = text[(1 + InstanceIdLength)..];

        if (_waiters.TryRemove(key, out TaskCompletionSource? waiter))
        {
            waiter.TrySetResult();
        }

        // Our own invalidation is echoed to our other caches; our own writes are already in our L1.
        if (kind == 'i' || (kind == 'w' && !fromSelf))
        {
            Notify(key);
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e) => Notify(null);

    private void Notify(string? key)
    {
        foreach (Action<string?> subscriber in Volatile.Read(ref _subscribers))
        {
            try
            {
                subscriber(key);
            }
            catch (Exception)
            {
                // A subscriber can never break the backplane.
            }
        }
    }

    private void Unsubscribe(Action<string?> subscriber)
    {
        lock (_subscribersLock)
        {
            int index = Array.IndexOf(_subscribers, subscriber);
            if (index >= 0)
            {
                _subscribers = [.. _subscribers.AsSpan(0, index), .. _subscribers.AsSpan(index + 1)];
            }
        }
    }

    private sealed class Subscription(RedisSecondLevelCache owner, Action<string?> subscriber) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.Unsubscribe(subscriber);
            }
        }
    }
}
