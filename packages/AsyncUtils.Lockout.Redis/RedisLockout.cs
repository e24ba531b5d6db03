using System.Net.Http.Headers;
using System.Runtime.ExceptionServices;
using StackExchange.Redis;
#if NET9_0_OR_GREATER
using LockType = System.Threading.Lock;
#else
using LockType = System.Object;
#endif

namespace AsyncUtils;

/// <summary>
/// A lockout shared by a fleet of processes through Redis: <see cref="LockFor"/> (or
/// <see cref="LockForRetryAfter(string?, TimeSpan)"/>, <see cref="LockUntil"/>) on any process locks
/// every process out, for example when one of them got "429, retry after 30 s". Each process
/// enters through its own in-process <see cref="Lockout"/> (<see cref="Local"/>), so entering an
/// unlocked lockout stays synchronous, allocation-free and free of I/O.
/// </summary>
/// <remarks>
/// <para>
/// <b>Only ever later, on the server's clock.</b> A lock applies locally at once and is then sent
/// to Redis, where one Lua script reads the server's <c>TIME</c>, sets the shared end to the later
/// of the current end and now plus the duration (the key expires then), and publishes it. Every
/// process applies a published end to its gate, corrected for its measured clock offset from the
/// server (best of five <c>TIME</c> round trips; re-measured on reconnect and every
/// <see cref="RedisLockoutOptions.ResyncInterval"/>). A shorter lockout never shortens a longer one.
/// </para>
/// <para>
/// <b>Staleness bound.</b> While connected, a lock set in one process holds back every other
/// process at most one round trip to Redis plus the pub/sub delivery after it was set, and its
/// end in each process is within that process's <see cref="ClockOffsetUncertainty"/> (half the
/// best measured round trip) of the shared end, which is at most one one-way trip later than the
/// locking process's own end. A process catches up from the key when it starts, on every
/// reconnect, and every <see cref="RedisLockoutOptions.ResyncInterval"/>.
/// </para>
/// <para>
/// <b>Redis down.</b> Local lockouts keep working; only propagation stops. A lock set while
/// disconnected is sent when the connection comes back, if it is still in force; on every
/// reconnect each process sends its lockout still in force, so a server restart that lost the key
/// does not lose the lockout. Nothing here ever throws because Redis is down.
/// </para>
/// </remarks>
public sealed class RedisLockout : IAsyncDisposable, IDisposable
{
    /// <summary>
    /// Sets the shared end to max(current, server now + ARGV[1] µs), with the key expiring at that end,
    /// publishes a new end on ARGV[2], and returns { end, now } in µs since the Unix epoch (server clock).
    /// An ARGV[1] of 0 only reads.
    /// </summary>
    private const string SyncScript = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local d = tonumber(ARGV[1])
        local v = redis.call('GET', KEYS[1])
        local cur = 0
        if v then cur = tonumber(v) or 0 end
        if d > 0 and now + d > cur then
          cur = now + d
          local s = string.format('%.0f', cur)
          redis.call('SET', KEYS[1], s, 'PX', math.ceil(d / 1000))
          redis.call('PUBLISH', ARGV[2], s)
        end
        return { string.format('%.0f', cur), string.format('%.0f', now) }
        """;

    /// <summary>The server's clock (routed by the key, so in a cluster it is the node that holds it).</summary>
    private const string TimeScript = "return redis.call('TIME')";

    private const int OffsetSamples = 5;

    /// <summary>The largest end (µs since the epoch) a message may carry: the end of <see cref="DateTimeOffset.MaxValue"/>, less a century.</summary>
    private static readonly long LatestEndMicros =
        (DateTimeOffset.MaxValue.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks - RedisLockoutOptions.LongestMaxDuration.Ticks) / 10;

    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    private readonly LockType _sync = new();
    private readonly IConnectionMultiplexer _connection;
    private readonly IDatabase _database;
    private readonly ISubscriber _subscriber;
    private readonly RedisKey[] _keys;
    private readonly RedisChannel _channel;
    private readonly RedisValue _channelName;
    private readonly TimeProvider _time;
    private readonly TimeSpan _maxDuration;
    private readonly TimeSpan _resyncInterval;
    private readonly Action<RedisChannel, RedisValue> _onMessage;
    private readonly EventHandler<ConnectionFailedEventArgs> _onRestored;
    private readonly ITimer _timer;

    private volatile bool _disposed;
    private bool _running;
    private bool _measureWanted;
    private bool _pushWanted;
    private bool _readWanted;
    private bool _offsetKnown;
    private long _offsetTicks;
    private long _uncertaintyTicks;
    private long _sharedEndMicros;

    /// <summary>The latest end (local UTC ticks) of the shared lockout as this process knows it: its own LockFor calls and the ends it received; what it sends.</summary>
    private long _sharedByUsEndTicks;
    private int _syncCount;
    private Task<Exception?> _loop = Task.FromResult<Exception?>(null);

    private RedisLockout(IConnectionMultiplexer connection, RedisLockoutOptions options)
    {
        _connection = connection;
        Name = options.Name;
        Local = new Lockout(options.Local);
        _time = options.Local?.TimeProvider ?? TimeProvider.System;
        _maxDuration = options.MaxDuration;
        _resyncInterval = options.ResyncInterval;
        _database = connection.GetDatabase();
        _subscriber = connection.GetSubscriber();
        string prefix = "asyncutils:lockout:{" + options.Name + "}";
        _keys = [prefix + ":until"];
        _channelName = prefix + ":events";
        _channel = RedisChannel.Literal(prefix + ":events");
        _onMessage = OnMessage;
        _onRestored = OnConnectionRestored;
        using (ExecutionContext.SuppressFlow())
        {
            _timer = _time.CreateTimer(static state => ((RedisLockout)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>The name the fleet shares (<see cref="RedisLockoutOptions.Name"/>).</summary>
    public string Name { get; }

    /// <summary>
    /// This process's gate: the in-process <see cref="Lockout"/> that shared lockouts are applied
    /// to. Enter through it (or through <see cref="EnterAsync()"/> and the other members here, which
    /// forward to it). Its own <see cref="Lockout.LockFor"/> locks this process only and is never
    /// sent to the fleet, also not on reconnect; use
    /// <see cref="RedisLockout.LockFor"/> to lock the fleet. It keeps working after disposal, as a
    /// plain in-process lockout.
    /// </summary>
    public Lockout Local { get; }

    /// <summary>Whether a lockout is in force in this process now.</summary>
    public bool IsLocked => Local.IsLocked;

    /// <summary>When the lockout in force in this process ends (on the local time provider's clock), or <see langword="null"/>.</summary>
    public DateTimeOffset? LockedUntil => Local.LockedUntil;

    /// <summary>
    /// The measured offset of the Redis server's clock from the local time provider's
    /// (server minus local), or <see langword="null"/> before the first measurement succeeded.
    /// </summary>
    public TimeSpan? ClockOffset
    {
        get
        {
            lock (_sync)
            {
                return _offsetKnown ? TimeSpan.FromTicks(_offsetTicks) : null;
            }
        }
    }

    /// <summary>
    /// How far <see cref="ClockOffset"/> may be off: half the shortest of the measured round trips,
    /// plus the time it took to read the local clock and the clocks' microsecond resolution. Shared
    /// lockouts end in this process within this of their end on the server's clock.
    /// </summary>
    public TimeSpan ClockOffsetUncertainty
    {
        get
        {
            lock (_sync)
            {
                return TimeSpan.FromTicks(_uncertaintyTicks);
            }
        }
    }

    /// <summary>The scripts run against Redis so far (for tests).</summary>
    internal int SyncCount => Volatile.Read(ref _syncCount);

    /// <summary>
    /// Creates the lockout for <paramref name="options"/>' <see cref="RedisLockoutOptions.Name"/>:
    /// subscribes to its channel, measures the clock offset and catches up with a lockout already
    /// in force. When the connection is down it returns at once a working (local) lockout, which
    /// catches up when the connection comes back.
    /// </summary>
    /// <param name="connection">The Redis connection, shared with the rest of the process; not disposed here.</param>
    /// <param name="options">The shared name and settings.</param>
    /// <param name="cancellationToken">Cancels the wait for the first catch-up.</param>
    /// <returns>The lockout; dispose it to stop listening.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="connection"/> or <paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><see cref="RedisLockoutOptions.Name"/> is null, empty or white space.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="RedisLockoutOptions.MaxDuration"/> is not positive or over a century, or <see cref="RedisLockoutOptions.ResyncInterval"/> is neither positive nor infinite.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired first.</exception>
    /// <exception cref="RedisServerException">The server refused the lockout's commands (for example an ACL without <c>EVAL</c>, <c>EVALSHA</c> or <c>PUBLISH</c>).</exception>
    public static async Task<RedisLockout> CreateAsync(IConnectionMultiplexer connection, RedisLockoutOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.Name))
        {
            throw new ArgumentException("RedisLockoutOptions.Name must be a non-empty name shared by the fleet.", nameof(options));
        }

        if (options.MaxDuration <= TimeSpan.Zero || options.MaxDuration > RedisLockoutOptions.LongestMaxDuration)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxDuration, "RedisLockoutOptions.MaxDuration must be greater than zero and at most a century (36,525 days).");
        }

        if (options.ResyncInterval <= TimeSpan.Zero && options.ResyncInterval != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.ResyncInterval, "RedisLockoutOptions.ResyncInterval must be greater than zero, or Timeout.InfiniteTimeSpan.");
        }

        cancellationToken.ThrowIfCancellationRequested();
        var lockout = new RedisLockout(connection, options);
        try
        {
            await lockout.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            lockout.Dispose();
            throw;
        }

        return lockout;
    }

    /// <summary>
    /// Locks every process out from now until <paramref name="duration"/> has passed (cut to
    /// <see cref="RedisLockoutOptions.MaxDuration"/>), unless a later lockout is in force. This
    /// process is locked at once; the others when the lock reaches them through Redis (see the
    /// staleness bound in the remarks). Never waits and never throws because of Redis. Zero does nothing.
    /// </summary>
    /// <param name="duration">How long; zero or more.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="duration"/> is negative (including <see cref="Timeout.InfiniteTimeSpan"/>).</exception>
    /// <exception cref="ObjectDisposedException">The lockout was disposed.</exception>
    public void LockFor(TimeSpan duration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (duration == TimeSpan.Zero)
        {
            return;
        }

        if (duration > _maxDuration)
        {
            duration = _maxDuration;
        }

        Local.LockFor(duration);
        long localEndTicks = _time.GetUtcNow().UtcTicks + duration.Ticks;
        lock (_sync)
        {
            _sharedByUsEndTicks = Math.Max(_sharedByUsEndTicks, localEndTicks);
            if (_disposed || (_offsetKnown && ToServerMicros(localEndTicks) <= _sharedEndMicros))
            {
                // Already shared: a lockout at least this long is in force fleet-wide.
                return;
            }

            _pushWanted = true;
            StartLoopLocked();
        }
    }

    /// <summary>
    /// Locks every process out until <paramref name="until"/> (on the local time provider's clock),
    /// unless a later lockout is in force; as <see cref="LockFor"/>. A time in the past does nothing.
    /// </summary>
    /// <param name="until">When the lockout ends.</param>
    /// <exception cref="ObjectDisposedException">The lockout was disposed.</exception>
    public void LockUntil(DateTimeOffset until)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        TimeSpan duration = until - _time.GetUtcNow();
        if (duration > TimeSpan.Zero)
        {
            LockFor(duration);
        }
    }

    /// <summary>
    /// Locks every process out for the delay in an HTTP <c>Retry-After</c> (or
    /// <c>X-RateLimit-Reset-After</c>) value, capped at <paramref name="maxDuration"/> and at
    /// <see cref="RedisLockoutOptions.MaxDuration"/>; see <see cref="RetryAfterHeader.TryParse"/>.
    /// </summary>
    /// <param name="retryAfter">The header value: delta-seconds or an HTTP date.</param>
    /// <param name="maxDuration">The longest lockout to apply; greater than zero.</param>
    /// <returns>The lockout applied from now; zero when the value is missing, malformed or in the past.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxDuration"/> is not positive.</exception>
    /// <exception cref="ObjectDisposedException">The lockout was disposed.</exception>
    public TimeSpan LockForRetryAfter(string? retryAfter, TimeSpan maxDuration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(maxDuration, TimeSpan.Zero);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return RetryAfterHeader.TryParse(retryAfter, _time.GetUtcNow(), out TimeSpan delay)
            ? LockForCapped(delay, maxDuration)
            : TimeSpan.Zero;
    }

    /// <summary>
    /// Locks every process out for the delay in a parsed <c>Retry-After</c> header (for example
    /// <c>response.Headers.RetryAfter</c>), capped at <paramref name="maxDuration"/> and at
    /// <see cref="RedisLockoutOptions.MaxDuration"/>.
    /// </summary>
    /// <param name="retryAfter">The header, or <see langword="null"/> when the response had none.</param>
    /// <param name="maxDuration">The longest lockout to apply; greater than zero.</param>
    /// <returns>The lockout applied from now; zero when the header is missing or its date has passed.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxDuration"/> is not positive.</exception>
    /// <exception cref="ObjectDisposedException">The lockout was disposed.</exception>
    public TimeSpan LockForRetryAfter(RetryConditionHeaderValue? retryAfter, TimeSpan maxDuration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(maxDuration, TimeSpan.Zero);
        ObjectDisposedException.ThrowIf(_disposed, this);
        TimeSpan delay = retryAfter switch
        {
            { Delta: TimeSpan delta } => delta,
            { Date: DateTimeOffset date } => date - _time.GetUtcNow(),
            _ => TimeSpan.Zero,
        };
        return LockForCapped(delay, maxDuration);
    }

    /// <summary>Enters at once if no lockout is in force in this process; otherwise waits until it ends. See <see cref="Lockout.EnterAsync()"/>.</summary>
    /// <returns>A task that completes on entry; synchronously, without allocating or any I/O, when unlocked.</returns>
    public ValueTask EnterAsync() => Local.EnterAsync();

    /// <summary>Enters at once if no lockout is in force in this process; otherwise waits until it ends. See <see cref="Lockout.EnterAsync(CancellationToken)"/>.</summary>
    /// <param name="cancellationToken">Cancels the wait (not an entry into an unlocked lockout).</param>
    /// <returns>A task that completes on entry; synchronously, without allocating or any I/O, when unlocked.</returns>
    /// <exception cref="OperationCanceledException">The token fired while waiting.</exception>
    public ValueTask EnterAsync(CancellationToken cancellationToken) => Local.EnterAsync(cancellationToken);

    /// <summary>Enters if no lockout is in force in this process, without waiting or any I/O.</summary>
    /// <returns><see langword="true"/> when no lockout is in force.</returns>
    public bool TryEnter() => Local.TryEnter();

    /// <summary>Enters if no lockout is in force in this process; otherwise throws, saying when it ends.</summary>
    /// <exception cref="LockoutActiveException">A lockout is in force; see its <see cref="LockoutActiveException.LockedUntil"/>.</exception>
    public void EnterOrThrow() => Local.EnterOrThrow();

    /// <summary>
    /// Stops listening: unsubscribes from the channel and from the connection's events, and stops
    /// the resync timer. A lock still being sent may arrive; nothing is applied here afterwards.
    /// <see cref="Local"/> keeps working as a plain in-process lockout. The connection is not disposed.
    /// </summary>
    public void Dispose()
    {
        lock (_sync)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        _connection.ConnectionRestored -= _onRestored;
        _timer.Dispose();
        try
        {
            _subscriber.Unsubscribe(_channel, _onMessage, CommandFlags.FireAndForget);
        }
        catch (Exception ex) when (ex is RedisException or ObjectDisposedException)
        {
            // The handler is removed locally before anything is sent; a closed connection has nothing to undo.
        }
    }

    /// <summary>As <see cref="Dispose"/>; it does not wait for Redis.</summary>
    /// <returns>A completed task.</returns>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return default;
    }

    private async Task StartAsync(CancellationToken cancellationToken)
    {
        _connection.ConnectionRestored += _onRestored;

        // The subscription is registered at once (and made again on every reconnect); only
        // sending it to the server can wait.
        Task subscribed = _subscriber.SubscribeAsync(_channel, _onMessage);
        if (!_connection.IsConnected)
        {
            // Redis is down: do not wait for it. The catch-up runs on reconnect (or the retry).
            _ = subscribed.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            lock (_sync)
            {
                _measureWanted = _readWanted = true;
                ArmTimerLocked(RetryDelay);
            }

            return;
        }

        try
        {
            await subscribed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or (RedisException and not RedisServerException))
        {
            // The subscription stays registered and is made again on reconnect; so is the catch-up.
            lock (_sync)
            {
                _measureWanted = _readWanted = true;
                ArmTimerLocked(RetryDelay);
            }

            return;
        }

        Task<Exception?> loop;
        lock (_sync)
        {
            // A reconnect may have started the loop already: then it does this too.
            _measureWanted = _readWanted = true;
            StartLoopLocked();
            loop = _loop;
        }

        Exception? failure = await loop.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (failure is RedisServerException)
        {
            // The server answered but refused (no permission for EVAL, scripts disabled, ...):
            // retrying would fail silently for ever, so say it now.
            ExceptionDispatchInfo.Throw(failure);
        }
    }

    private TimeSpan LockForCapped(TimeSpan delay, TimeSpan maxDuration)
    {
        if (delay <= TimeSpan.Zero)
        {
            return TimeSpan.Zero;
        }

        TimeSpan applied = delay < maxDuration ? delay : maxDuration;
        if (applied > _maxDuration)
        {
            applied = _maxDuration;
        }

        LockFor(applied);
        return applied;
    }

    private void OnMessage(RedisChannel channel, RedisValue message)
    {
        if (message.TryParse(out long endMicros))
        {
            ApplySharedEnd(endMicros);
        }
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        lock (_sync)
        {
            if (_disposed)
            {
                return;
            }

            // Re-measure (the server may be another one), catch up, and send our lockout in case
            // the server lost the key (or we locked while it was away).
            _measureWanted = _pushWanted = _readWanted = true;
            StartLoopLocked();
        }
    }

    private void OnTimer()
    {
        lock (_sync)
        {
            if (_disposed)
            {
                return;
            }

            _measureWanted = _readWanted = true;
            StartLoopLocked();
        }
    }

    /// <summary>Starts the sync loop on the thread pool unless it is running (it then sees the new wishes) or disposed.</summary>
    private void StartLoopLocked()
    {
        if (_running || _disposed)
        {
            return;
        }

        _running = true;
        _loop = Task.Run(RunLoopAsync);
    }

    /// <summary>
    /// The one sync loop (never two at once): measures the offset, sends this process's lockout
    /// and reads the shared end, until nothing more is wanted. A failure keeps what was wanted and
    /// retries after <see cref="RetryDelay"/> or on reconnect, whichever comes first.
    /// </summary>
    /// <returns>The failure that stopped it, or <see langword="null"/>.</returns>
    private async Task<Exception?> RunLoopAsync()
    {
        while (true)
        {
            bool measure;
            bool push;
            lock (_sync)
            {
                if (_disposed)
                {
                    _running = false;
                    return null;
                }

                measure = _measureWanted || !_offsetKnown;
                push = _pushWanted;
                if (!measure && !push && !_readWanted)
                {
                    _running = false;
                    ArmTimerLocked(_resyncInterval);
                    return null;
                }

                _measureWanted = _pushWanted = _readWanted = false;
            }

            try
            {
                if (measure)
                {
                    await MeasureOffsetAsync().ConfigureAwait(false);
                }

                await SyncAsync(push).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // Any failure (connection, timeout, a disposed connection) only delays propagation.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                lock (_sync)
                {
                    _measureWanted = true;
                    _pushWanted |= push;
                    _readWanted = true;
                    _running = false;
                    if (!_disposed)
                    {
                        ArmTimerLocked(RetryDelay);
                    }
                }

                return ex;
            }
        }
    }

    private void ArmTimerLocked(TimeSpan due)
    {
        if (!_disposed)
        {
            _timer.Change(due, Timeout.InfiniteTimeSpan);
        }
    }

    private async Task MeasureOffsetAsync()
    {
        // The server read its clock between sent and received, so server time minus the local
        // midpoint is off by at most half the round trip, plus the time it took to read the local
        // wall clock (bracketed by timestamps), plus a microsecond for the clocks' resolution.
        long bestError = long.MaxValue;
        long bestOffset = 0;
        for (int i = 0; i < OffsetSamples; i++)
        {
            long beforeRead = _time.GetTimestamp();
            long before = _time.GetUtcNow().UtcTicks;
            long sent = _time.GetTimestamp();
            RedisResult result = await _database.ScriptEvaluateAsync(TimeScript, _keys).ConfigureAwait(false);
            long received = _time.GetTimestamp();
            long rtt = _time.GetElapsedTime(sent, received).Ticks;
            long error = (rtt / 2) + _time.GetElapsedTime(beforeRead, sent).Ticks + 10;
            RedisValue[] parts = (RedisValue[]?)result ?? throw new InvalidOperationException("TIME returned nothing.");
            long serverTicks = DateTimeOffset.UnixEpoch.UtcTicks + ((((long)parts[0] * 1_000_000) + (long)parts[1]) * 10);
            if (error < bestError)
            {
                bestError = error;
                bestOffset = serverTicks - (before + (rtt / 2));
            }
        }

        lock (_sync)
        {
            _offsetTicks = bestOffset;
            _uncertaintyTicks = bestError;
            _offsetKnown = true;
        }
    }

    /// <summary>Runs the script once: sends this process's remaining lockout (when <paramref name="push"/>) and applies the shared end.</summary>
    private async Task SyncAsync(bool push)
    {
        long micros = 0;
        if (push)
        {
            // Only the shared lockout (this process's LockFor calls and what it received), never
            // a lock set on Local directly, which is this process's alone.
            long ownEnd;
            lock (_sync)
            {
                ownEnd = _sharedByUsEndTicks;
            }

            long remaining = ownEnd - _time.GetUtcNow().UtcTicks;
            micros = remaining > 0 ? (remaining + 9) / 10 : 0;
        }

        Interlocked.Increment(ref _syncCount);
        RedisResult result = await _database.ScriptEvaluateAsync(SyncScript, _keys, [micros, _channelName]).ConfigureAwait(false);
        RedisValue[] parts = (RedisValue[]?)result ?? throw new InvalidOperationException("The lockout script returned nothing.");
        ApplySharedEnd((long)parts[0]);
    }

    /// <summary>Applies a shared end (µs since the epoch on the server's clock) to the local gate.</summary>
    private void ApplySharedEnd(long endMicros)
    {
        if (endMicros <= 0 || endMicros > LatestEndMicros)
        {
            return;
        }

        long now = _time.GetUtcNow().UtcTicks;
        long remaining;
        lock (_sync)
        {
            if (_disposed || !_offsetKnown)
            {
                // Before the first measurement the end cannot be placed on the local clock; the
                // catch-up that follows reads it from the key.
                return;
            }

            if (endMicros > _sharedEndMicros)
            {
                _sharedEndMicros = endMicros;
            }

            remaining = DateTimeOffset.UnixEpoch.UtcTicks + (endMicros * 10) - _offsetTicks - now;
            if (remaining <= 0)
            {
                return;
            }

            remaining = Math.Min(remaining, _maxDuration.Ticks);
            _sharedByUsEndTicks = Math.Max(_sharedByUsEndTicks, now + remaining);
        }

        Local.LockFor(TimeSpan.FromTicks(remaining));
    }

    /// <summary>A local time (UTC ticks) as µs since the epoch on the server's clock, rounded down.</summary>
    private long ToServerMicros(long localTicks) => (localTicks + _offsetTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;
}
