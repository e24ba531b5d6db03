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
/// <para><b>One call per key across processes.</b> On an L2 miss a process takes a lease on the key, unless the
/// value appeared meanwhile (<c>SET NX PX</c>, <see cref="LeaseDuration"/>), and renews it every third of the
/// lease while its call runs (a compare-token <c>PEXPIRE</c>), so a call may outlive the lease. The others wait
/// for its completion message; when the lease's remaining time elapses first they re-check (read again, and
/// wait again while the lease is held). An owner that stops renewing (it died, or its level was disposed) loses
/// the lease one <see cref="LeaseDuration"/> later and another process takes over.</para>
/// <para><b>Invalidation wins.</b> A read that misses stores a fresh random version token for the key (unless one
/// exists); <see cref="ISecondLevelCache.InvalidateAsync"/> deletes the value and the token in one script; a call
/// stores its result through one compare-and-set script that writes only if the key's token is still the one
/// read before the call. A missing token never matches, so a call that started before an invalidation never
/// writes its stale result, on any process, even if the token expired meanwhile.</para>
/// <para><b>Redis down.</b> Reads are misses, every process calls for itself, nothing is written, invalidations
/// only reach the local L1 (reported as failures); the caches keep serving from L1 and recover on their own.
/// A failed invalidation is remembered (at most <see cref="RedisSecondLevelCacheOptions.MaxPendingInvalidations"/>
/// keys) and replayed on reconnect; until then this process neither reads nor writes that key in Redis, so it never
/// serves the old value again even if Redis returns with its data. Past the bound it stops reading and writing
/// values in Redis for the rest of its life.</para>
/// <para><b>Time.</b> Lease and value expiries run on Redis's clock; the local waits and the renewal timer run on
/// <see cref="RedisSecondLevelCacheOptions.TimeProvider"/>.</para>
/// <para>Keys: <c>prefix{key}</c> (value), <c>prefix{key}:ver</c> (version token, expires two leases after its
/// last read or renewal, deleted by an invalidation), <c>prefix{key}:lease</c>, braces included so that a key's
/// three live on one cluster slot; channel <c>prefix + "events"</c>.</para>
/// </remarks>
public sealed class RedisSecondLevelCache : ISecondLevelCache, IDisposable
{
    // KEYS: value, version, lease. ARGV: expected version, bytes (or empty with flag 0), ttl ms (0 = none),
    // lease token, channel, message suffix (instance + key), write flag.
    private const string EndScript = """
        local written = 0
        if ARGV[7] == '1' then
          local current = redis.call('GET', KEYS[2])
          if current and current == ARGV[1] then
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

    // KEYS: value, version. ARGV: a fresh version token, its time to live in ms. On a miss without a token,
    // stores the fresh one. Returns {value or nil, token or '0'}.
    private const string ReadScript = """
        local value = redis.call('GET', KEYS[1])
        local version = redis.call('GET', KEYS[2])
        if not version then
          if value then
            version = '0'
          else
            version = ARGV[1]
            redis.call('SET', KEYS[2], version, 'PX', ARGV[2])
          end
        end
        return {value, version}
        """;

    // KEYS: value, lease. ARGV: lease token, lease ms. Returns -10 when the value exists (read again),
    // -20 when the lease was taken, -2 when the lease vanished meanwhile (read again), else the remaining
    // lease in milliseconds.
    private const string BeginScript = """
        if redis.call('EXISTS', KEYS[1]) == 1 then
          return -10
        end
        if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
          return -20
        end
        local ttl = redis.call('PTTL', KEYS[2])
        if ttl == -1 then
          return tonumber(ARGV[2])
        end
        return ttl
        """;

    // KEYS: lease, version. ARGV: lease token, lease ms, version ms. Extends both while the lease is ours.
    private const string RenewScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          redis.call('PEXPIRE', KEYS[2], ARGV[3])
          return 1
        end
        return 0
        """;

    // KEYS: value, version. ARGV: channel, message suffix.
    private const string InvalidateScript = """
        redis.call('DEL', KEYS[1], KEYS[2])
        redis.call('PUBLISH', ARGV[1], 'i' .. ARGV[2])
        return 1
        """;

    private const int InstanceIdLength = 32;
    private readonly IConnectionMultiplexer _connection;
    private readonly IDatabase _database;
    private readonly ISubscriber _subscriber;
    private readonly RedisChannel _channel;
    private readonly string _keyPrefix;
    private readonly TimeProvider _timeProvider;
    private readonly long _leaseMilliseconds;
    private readonly string _instanceId = Guid.NewGuid().ToString("N");
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _waiters = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lease> _leases = new(StringComparer.Ordinal);
    private readonly Action<RedisChannel, RedisValue> _onMessage;
    private readonly EventHandler<ConnectionFailedEventArgs> _onRestored;
    private readonly object _subscribersLock = new();

    // Keys whose invalidation failed, with the sequence number of the latest failure; replayed on reconnect.
    private readonly ConcurrentDictionary<string, long> _pending = new(StringComparer.Ordinal);
    private readonly int _maxPending;
    private long _pendingSequence;
    private int _pendingCount;
    private volatile bool _pendingOverflowed;
    private int _replaying;
    private Action<string?>[] _subscribers = [];
    private volatile bool _disposed;

    /// <summary>Creates the level over an existing connection and subscribes to its channel (without waiting for Redis).</summary>
    /// <param name="connection">The connection; create it with <c>abortConnect=false</c> so that the process starts with Redis down.</param>
    /// <param name="keyPrefix">Put in front of every key and of the channel name; processes that share a cache use the same prefix.</param>
    /// <param name="leaseDuration">How long a process that stopped renewing keeps a key's call before another takes over (default 30 seconds).</param>
    /// <exception cref="ArgumentNullException"><paramref name="connection"/> or <paramref name="keyPrefix"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="leaseDuration"/> is not positive.</exception>
    public RedisSecondLevelCache(IConnectionMultiplexer connection, string keyPrefix = "asyncutils:cache:", TimeSpan? leaseDuration = null)
        : this(connection, CreateOptions(keyPrefix, leaseDuration))
    {
    }

    /// <summary>Creates the level over an existing connection and subscribes to its channel (without waiting for Redis).</summary>
    /// <param name="connection">The connection; create it with <c>abortConnect=false</c> so that the process starts with Redis down.</param>
    /// <param name="options">Key prefix, lease duration and the clock of the local waits and timers.</param>
    /// <exception cref="ArgumentNullException"><paramref name="connection"/>, <paramref name="options"/>, its key prefix or its time provider is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The lease duration is not positive, or above <see cref="int.MaxValue"/> milliseconds.</exception>
    public RedisSecondLevelCache(IConnectionMultiplexer connection, RedisSecondLevelCacheOptions options)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(options);
        string keyPrefix = options.KeyPrefix ?? throw new ArgumentNullException(nameof(options), "RedisSecondLevelCacheOptions.KeyPrefix is null.");
        TimeProvider timeProvider = options.TimeProvider ?? throw new ArgumentNullException(nameof(options), "RedisSecondLevelCacheOptions.TimeProvider is null.");
        TimeSpan lease = options.LeaseDuration;
        if (lease < TimeSpan.FromMilliseconds(3) || lease.TotalMilliseconds > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(options), lease, "RedisSecondLevelCacheOptions.LeaseDuration must be at least 3 milliseconds and at most int.MaxValue milliseconds.");
        }

        if (options.MaxPendingInvalidations <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxPendingInvalidations, "RedisSecondLevelCacheOptions.MaxPendingInvalidations must be positive.");
        }

        _maxPending = options.MaxPendingInvalidations;
        LeaseDuration = lease;
        _leaseMilliseconds = (long)lease.TotalMilliseconds;
        _timeProvider = timeProvider;
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

    /// <summary>
    /// How long a process that stopped renewing keeps a key's call before another process takes over; a live
    /// owner renews it every third of it while its call runs.
    /// </summary>
    public TimeSpan LeaseDuration { get; }

    // A version token outlives the owner's lease: it is refreshed with the lease while the call runs.
    private long VersionMilliseconds => _leaseMilliseconds * 2;

    /// <inheritdoc />
    public async ValueTask<SecondLevelEntry> ReadAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        ThrowIfDown();
        if (Volatile.Read(ref _pendingCount) != 0 || _pendingOverflowed)
        {
            await ReplayBeforeReadAsync(key, cancellationToken).ConfigureAwait(false);
        }

        long fresh = Random.Shared.NextInt64(1, long.MaxValue);
        RedisResult result = await _database.ScriptEvaluateAsync(
            ReadScript,
            [ValueKey(key), VersionKey(key)],
            [fresh, VersionMilliseconds]).WaitAsync(cancellationToken).ConfigureAwait(false);
        var parts = (RedisResult[])result!;
        if (!long.TryParse((string?)parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long version))
        {
            version = 0; // a version written by an older release: never matches a token
        }

        return new SecondLevelEntry(parts[0].IsNull ? null : (byte[]?)parts[0], version);
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
                [token, _leaseMilliseconds]).WaitAsync(cancellationToken).ConfigureAwait(false);
            if (outcome == -20)
            {
                StartRenewing(key, token);
                return true;
            }

            if (outcome < 0)
            {
                return false; // the value exists, or the lease was released meanwhile: read again
            }

            TimeSpan wait = TimeSpan.FromMilliseconds(Math.Min(outcome, _leaseMilliseconds));
            try
            {
                await waiter.Task.WaitAsync(wait, _timeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // The bound elapsed: read again; the owner's renewed lease makes us wait again, a dead
                // owner's expired lease lets us take over.
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
        string token = string.Empty; // not ours (begun while Redis was down): write under the version check only
        if (_leases.TryRemove(key, out Lease? lease))
        {
            lease.Stop();
            token = lease.Token;
        }

        ThrowIfDown();

        // Invalidation wins: nothing is stored for a key whose invalidation is still to be replayed (Redis may
        // hold the token read before it), nor by a process that lost track of its failed invalidations.
        bool write = value is not null && version > 0 && !_pendingOverflowed && !IsPending(key);
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
        _pending.TryGetValue(key, out long earlier);
        try
        {
            ThrowIfDown();
            await InvalidateInRedisAsync(key, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Unreachable, timed out or cancelled: the removal may or may not have happened; replay it on reconnect
            // (a second removal is harmless) and keep this process off the key in Redis until then.
            MarkPending(key);
            throw;
        }

        if (earlier != 0)
        {
            ClearPending(key, earlier); // this removal covers the earlier failed one
        }
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

    /// <summary>
    /// Unsubscribes from the channel and stops renewing the leases of calls still running, so that other
    /// processes take them over one lease later (as if this process had died). The connection stays open (it is the caller's).
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (KeyValuePair<string, Lease> pair in _leases)
        {
            pair.Value.Stop();
        }

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

    private static RedisSecondLevelCacheOptions CreateOptions(string keyPrefix, TimeSpan? leaseDuration)
    {
        ArgumentNullException.ThrowIfNull(keyPrefix);
        TimeSpan lease = leaseDuration ?? TimeSpan.FromSeconds(30);
        if (lease < TimeSpan.FromMilliseconds(3) || lease.TotalMilliseconds > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(leaseDuration), lease, "The lease duration must be at least 3 milliseconds and at most int.MaxValue milliseconds.");
        }

        return new RedisSecondLevelCacheOptions { KeyPrefix = keyPrefix, LeaseDuration = lease };
    }

    private void StartRenewing(string key, string token)
    {
        var lease = new Lease(this, key, token);
        _leases.AddOrUpdate(key, lease, (_, lost) =>
        {
            lost.Stop(); // an earlier call of ours lost its lease (e.g. Redis was unreachable for a whole lease)
            return lease;
        });
        TimeSpan period = LeaseDuration / 3;
        lease.Start(_timeProvider.CreateTimer(static s => ((Lease)s!).Renew(), lease, period, period));
        if (_disposed)
        {
            lease.Stop();
        }
    }

    private Task<RedisResult> InvalidateInRedisAsync(string key, CancellationToken cancellationToken) =>
        _database.ScriptEvaluateAsync(
            InvalidateScript,
            [ValueKey(key), VersionKey(key)],
            [_channel.ToString(), _instanceId + key]).WaitAsync(cancellationToken);

    private bool IsPending(string key) => Volatile.Read(ref _pendingCount) != 0 && _pending.ContainsKey(key);

    private void MarkPending(string key)
    {
        long sequence = Interlocked.Increment(ref _pendingSequence);
        while (true)
        {
            if (_pending.TryGetValue(key, out long current))
            {
                if (_pending.TryUpdate(key, sequence, current))
                {
                    return;
                }

                continue;
            }

            if (Interlocked.Increment(ref _pendingCount) > _maxPending)
            {
                Interlocked.Decrement(ref _pendingCount);
                _pendingOverflowed = true; // this key's invalidation is forgotten: stop trusting Redis values
                return;
            }

            if (_pending.TryAdd(key, sequence))
            {
                return;
            }

            Interlocked.Decrement(ref _pendingCount);
        }
    }

    private void ClearPending(string key, long sequence)
    {
        // Only the failure that was replayed: a newer failure of the same key stays pending.
        if (_pending.TryRemove(new KeyValuePair<string, long>(key, sequence)))
        {
            Interlocked.Decrement(ref _pendingCount);
        }
    }

    private async ValueTask ReplayBeforeReadAsync(string key, CancellationToken cancellationToken)
    {
        if (_pending.TryGetValue(key, out long sequence))
        {
            await InvalidateInRedisAsync(key, cancellationToken).ConfigureAwait(false);
            ClearPending(key, sequence);
        }

        if (_pendingOverflowed)
        {
            throw new InvalidOperationException(
                "More invalidations failed while Redis was unreachable than RedisSecondLevelCacheOptions.MaxPendingInvalidations; " +
                "this process no longer reads or writes values in Redis (its first level still works).");
        }
    }

    private async Task ReplayPendingAsync()
    {
        if (Interlocked.Exchange(ref _replaying, 1) == 1)
        {
            return;
        }

        try
        {
            foreach (KeyValuePair<string, long> pair in _pending)
            {
                if (_disposed || !_connection.IsConnected)
                {
                    return; // the next reconnection replays the rest
                }

                try
                {
                    await InvalidateInRedisAsync(pair.Key, CancellationToken.None).ConfigureAwait(false);
                    ClearPending(pair.Key, pair.Value);
                }
                catch (Exception)
                {
                    // Still pending: the next read of the key or the next reconnection replays it.
                }
            }
        }
        finally
        {
            Volatile.Write(ref _replaying, 0);
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

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (Volatile.Read(ref _pendingCount) != 0)
        {
            _ = Task.Run(ReplayPendingAsync); // the keys stay off limits to this process until replayed
        }

        Notify(null);
    }

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

    /// <summary>A lease this process holds, renewed on a timer until the call ends or the level is disposed.</summary>
    private sealed class Lease(RedisSecondLevelCache owner, string key, string token)
    {
        private ITimer? _timer;
        private int _stopped;

        public string Token => token;

        public void Start(ITimer timer)
        {
            Volatile.Write(ref _timer, timer);
            if (Volatile.Read(ref _stopped) == 1)
            {
                timer.Dispose();
            }
        }

        public void Stop()
        {
            if (Interlocked.Exchange(ref _stopped, 1) == 0)
            {
                Volatile.Read(ref _timer)?.Dispose();
            }
        }

        public void Renew()
        {
            if (Volatile.Read(ref _stopped) == 1 || owner._disposed)
            {
                return;
            }

            _ = RenewAsync();
        }

        private async Task RenewAsync()
        {
            try
            {
                RedisResult renewed = await owner._database.ScriptEvaluateAsync(
                    RenewScript,
                    [owner.LeaseKey(key), owner.VersionKey(key)],
                    [token, owner._leaseMilliseconds, owner.VersionMilliseconds]).ConfigureAwait(false);
                if ((int)renewed == 0)
                {
                    Stop(); // lost (expired while Redis was unreachable): another process may own the key now
                }
            }
            catch (Exception)
            {
                // Redis unreachable: try again on the next tick; if the lease expires meanwhile, another
                // process takes over and the version check still guards the write.
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
