using System.Globalization;
using System.Threading.RateLimiting;
using StackExchange.Redis;
using BclRateLimiter = System.Threading.RateLimiting.RateLimiter;
#if NET9_0_OR_GREATER
using LockType = System.Threading.Lock;
#else
using LockType = System.Object;
#endif

namespace AsyncUtils;

/// <summary>
/// An exact sliding-log rate limiter shared by every process that uses the same
/// <see cref="RedisSlidingLogRateLimiterOptions.Name"/> on one Redis: in any window of length
/// <see cref="SlidingLogWindow.Period"/> at most <see cref="SlidingLogWindow.PermitLimit"/> permits
/// are granted across the whole fleet, for every configured window at once. It derives from
/// <see cref="System.Threading.RateLimiting.RateLimiter"/>, so it plugs into
/// <see cref="PartitionedRateLimiter"/>, ASP.NET Core's rate-limiting middleware, Polly and
/// <see cref="RateLimiterExtensions.EnterAsync(BclRateLimiter, CancellationToken)"/> unchanged.
/// </summary>
/// <remarks>
/// <para>
/// <b>Exact on one clock.</b> Every decision is one Lua script on the Redis server: it reads the
/// server's <c>TIME</c> (clamped so that it never goes backwards), trims and counts the log of
/// grants for each window and grants all or nothing. So "at most N in any window", counted on the
/// server's decision times (<see cref="RedisRateLimitMetadata.GrantedAt"/>), holds exactly across
/// any number of processes whatever their clocks; a skewed local clock only moves local timers.
/// </para>
/// <para>
/// <b>Fair waiting, without polling.</b> A request that cannot be granted at once takes a ticket
/// in a fleet-wide FIFO queue in Redis, in order of arrival at the server (<see cref="RedisSlidingLogRateLimiterOptions.QueueLimit"/>
/// bounds the permits waiting in each process). Only the head is granted, and every script call
/// first serves the queue from its head as far as the windows allow. A queued request sleeps on a
/// local timer set for the exact moment the script computed (converted through the measured
/// offset between the server's clock and the local one) and makes one call when it fires; a
/// pub/sub message only nudges the waiters when the schedule moves earlier (a cancellation, a
/// handed-back grant, new limits), so a lost message costs latency, never correctness. A ticket
/// whose process dies leaves the queue <see cref="RedisSlidingLogRateLimiterOptions.TicketTimeout"/>
/// after its promised wake-up.
/// </para>
/// <para>
/// <b><see cref="BclRateLimiter.AttemptAcquire"/> never calls Redis</b> (it is synchronous, and a
/// synchronous round trip would block a thread on I/O). It answers from this process's record of
/// Redis's last answer: while that answer says nothing can be granted before some moment, it
/// refuses with the remaining <see cref="MetadataName.RetryAfter"/>; otherwise it refuses with a
/// <see cref="MetadataName.ReasonPhrase"/> that says to use
/// <see cref="BclRateLimiter.AcquireAsync"/>. It grants only without Redis
/// (<see cref="RedisRateLimiterFailureMode.Open"/>, or the local fallback once active).
/// </para>
/// <para>
/// <b>Retry-after.</b> A failed lease from Redis carries the exact time until the request could be
/// granted (after every queued request has been served in order, as long as none is cancelled);
/// a granted lease carries the time until a newcomer could be granted, zero when another permit is
/// free now.
/// </para>
/// <para>
/// <b>Cancellation.</b> A queued request whose token fires completes at once with
/// <see cref="TaskCanceledException"/> and its ticket is removed from Redis. If Redis granted it in
/// the meantime, that grant is handed back (its entries leave the log), so a grant is never lost.
/// </para>
/// <para>
/// <b>Failures.</b> See <see cref="RedisRateLimiterFailureMode"/>. A queued request is never lost
/// or doubled by a connection loss: every call for it names its ticket, so a call repeated after a
/// lost answer finds the grant already made, and a ticket that expired during an outage re-enters
/// the queue at its tail. After Redis lost the limiter's state, every grant is refused for one
/// longest window (<see cref="RedisSlidingLogRateLimiterOptions.QuarantineAfterDataLoss"/>).
/// </para>
/// <para>
/// <b>Memory and keys.</b> Redis holds one entry per permit still inside the longest window plus
/// one per queued request; every key expires when idle, and all keys of one name share a hash tag.
/// </para>
/// </remarks>
public sealed class RedisSlidingLogRateLimiter : BclRateLimiter
{
    private const long NotFailing = long.MinValue;
    private const int StatusGranted = 1;
    private const int StatusQueued = 0;
    private const int StatusRefused = -1;
    private const int StatusGone = 2;
    private const long MinRetryMicros = 50_000;
    private const long MaxRetryMicros = 1_000_000;

    private static readonly Action<object?, CancellationToken> OnCancelAction =
        static (state, _) => { var w = (RedisWaiter)state!; w.Owner!.OnCancel(w); };

    private static readonly TimerCallback OnTimerCallback = static state =>
    {
        var w = (RedisWaiter)state!;
        w.Owner!.Track(w.Owner.PollAsync(w));
    };

    private readonly LockType _lock = new();
    private readonly IConnectionMultiplexer _connection;
    private readonly IDatabase _database;
    private readonly ISubscriber _subscriber;
    private readonly RedisKey[] _keys;
    private readonly RedisChannel _channel;
    private readonly string _channelName;
    private readonly TimeProvider _time;
    private readonly RedisRateLimiterFailureMode _failureMode;
    private readonly bool _quarantine;
    private readonly double _share;
    private readonly long _ticketTimeoutMicros;
    private readonly string _ticketPrefix;
    private readonly long _createdAt;
    private readonly Action<RedisChannel, RedisValue> _onMessage;
    private readonly EventHandler<ConnectionFailedEventArgs> _onRestored;
    private readonly HashSet<Task> _background = [];
    private readonly List<(string Ticket, int Permits)> _orphans = [];
    private long _ticketCounter;

    private SlidingLogWindow[] _windows;
    private RedisValue[] _windowArgs;
    private int _minLimit;
    private long _longestMicros;
    private readonly int _queueLimit;

    private RedisWaiter? _head;
    private RedisWaiter? _tail;
    private long _queuedPermits;

    private string _knownEpoch = string.Empty;
    private long _lastContact;
    private long _lastSeen;
    private long _failingSince = NotFailing;
    private SlidingLogRateLimiter? _fallback;
    private long _refusedUntil;
    private long _lastGrant = long.MinValue;
    private long _available;
    private long _successful;
    private long _failed;
    private bool _flushing;
    private bool _disposed;

    /// <summary>Creates a limiter on a Redis connection; options are copied.</summary>
    /// <param name="connection">The connection to the Redis server (or cluster) that holds the shared state.</param>
    /// <param name="options">The shared name, windows, queue limit and failure behaviour.</param>
    /// <exception cref="ArgumentNullException"><paramref name="connection"/> or <paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The name is empty or holds a brace, there is no window, a window is the default value, the queue limit is negative, the failure mode is not defined, the local fallback share is not in (0, 1], or the ticket timeout is not positive or over a day.</exception>
    public RedisSlidingLogRateLimiter(IConnectionMultiplexer connection, RedisSlidingLogRateLimiterOptions options)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrEmpty(options.Name) || options.Name.AsSpan().IndexOfAny('{', '}') >= 0)
        {
            throw new ArgumentException("Name is required, not empty and without braces (it becomes the keys' hash tag).", nameof(options));
        }

        if (options.QueueLimit < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.QueueLimit, "QueueLimit must not be negative.");
        }

        if (!Enum.IsDefined(options.FailureMode))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.FailureMode, "FailureMode is not a defined RedisRateLimiterFailureMode.");
        }

        if (!(options.LocalFallbackShare > 0 && options.LocalFallbackShare <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.LocalFallbackShare, "LocalFallbackShare must be greater than 0 and at most 1.");
        }

        if (options.TicketTimeout <= TimeSpan.Zero || options.TicketTimeout > TimeSpan.FromDays(1))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.TicketTimeout, "TicketTimeout must be greater than zero and at most one day.");
        }

        SetWindowsCore(ValidateWindows([.. options.Windows], nameof(options)));
        _connection = connection;
        _database = connection.GetDatabase();
        _subscriber = connection.GetSubscriber();
        _time = options.TimeProvider ?? TimeProvider.System;
        _failureMode = options.FailureMode;
        _quarantine = options.QuarantineAfterDataLoss;
        _share = options.LocalFallbackShare;
        _ticketTimeoutMicros = options.TicketTimeout.Ticks / 10;
        _queueLimit = options.QueueLimit;
        Name = options.Name;
        string prefix = "asyncutils:rl:{" + options.Name + "}:";
        _keys = [prefix + "log", prefix + "last", prefix + "epoch", prefix + "quar", prefix + "q", prefix + "qn", prefix + "qx", prefix + "seq", prefix + "dn", prefix + "lp"];
        _channelName = prefix + "nudge";
        _channel = RedisChannel.Literal(_channelName);
        _ticketPrefix = Guid.NewGuid().ToString("N")[..12] + ".";
        _createdAt = LocalMicros();
        _onMessage = (_, _) => OnNudge();
        _onRestored = (_, _) => OnConnectionRestored();
        connection.ConnectionRestored += _onRestored;
        Track(SubscribeAsync());
    }

    /// <summary>The shared name of the limit.</summary>
    public string Name { get; }

    /// <summary>The windows now enforced by this process.</summary>
    public IReadOnlyList<SlidingLogWindow> Windows
    {
        get
        {
            lock (_lock)
            {
                return Array.AsReadOnly(_windows);
            }
        }
    }

    /// <summary>
    /// How long this process has had no request waiting and no grant of its own inside the longest
    /// window, or <see langword="null"/> while it has (so a <see cref="PartitionedRateLimiter"/>
    /// keeps the partition). Other processes' grants are not seen.
    /// </summary>
    public override TimeSpan? IdleDuration
    {
        get
        {
            lock (_lock)
            {
                if (_disposed || _head is not null)
                {
                    return null;
                }

                long now = LocalMicros();
                long idleSince = _createdAt;
                if (_lastGrant != long.MinValue)
                {
                    long end = _lastGrant + _longestMicros;
                    if (now < end)
                    {
                        return null;
                    }

                    idleSince = Math.Max(idleSince, end);
                }

                return FromMicros(now - idleSince);
            }
        }
    }

    /// <summary>
    /// Replaces this process's windows at run time (every limiter of the name should be given the
    /// same ones). Queued requests of this process that ask for more permits than a new window
    /// allows fail with a lease saying so; the others are rescheduled, and the fleet is nudged.
    /// </summary>
    /// <param name="windows">The new windows; at least one.</param>
    /// <exception cref="ArgumentNullException"><paramref name="windows"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="windows"/> is empty or holds a default value.</exception>
    /// <exception cref="ObjectDisposedException">The limiter was disposed.</exception>
    public void SetWindows(params SlidingLogWindow[] windows)
    {
        ArgumentNullException.ThrowIfNull(windows);
        SlidingLogWindow[] specs = ValidateWindows([.. windows], nameof(windows));
        List<RedisWaiter> failed = [];
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            SetWindowsCore(specs);
            _refusedUntil = 0;
            for (RedisWaiter? w = _head; w is not null; w = w.Next)
            {
                if (w.PermitCount > _minLimit && w.State == RedisWaiter.Pending)
                {
                    w.State = RedisWaiter.Completed;
                    _failed++;
                    failed.Add(w);
                }
            }

            foreach (RedisWaiter w in failed)
            {
                Unlink(w);
            }
        }

        foreach (RedisWaiter w in failed)
        {
            Finish(w, new RedisLease(false, null, RedisLease.LimitLoweredReason, null));
            StartRemoval(w.Ticket, w.PermitCount);
        }

        Track(PublishNudgeAsync());
        OnNudge();
    }

    /// <summary>
    /// A snapshot: the permits free in the fullest window at Redis's last answer to this process,
    /// the permits queued in this process, and this process's totals of successful and failed
    /// leases (which only grow).
    /// </summary>
    /// <returns>The statistics.</returns>
    public override RateLimiterStatistics? GetStatistics()
    {
        lock (_lock)
        {
            return new RateLimiterStatistics
            {
                CurrentAvailablePermits = _available,
                CurrentQueuedCount = _queuedPermits,
                TotalFailedLeases = _failed,
                TotalSuccessfulLeases = _successful,
            };
        }
    }

    /// <summary>
    /// Never calls Redis: refuses from this process's record of Redis's last answer (with the
    /// remaining retry-after while that answer says nothing can be granted yet), or refuses with a
    /// reason saying to use <see cref="BclRateLimiter.AcquireAsync"/>. Grants only while Redis
    /// cannot be reached, in <see cref="RedisRateLimiterFailureMode.Open"/> or from the active local fallback.
    /// </summary>
    /// <param name="permitCount">The permits to take; at most the smallest window limit.</param>
    /// <returns>A lease; a refusal carries a <see cref="MetadataName.ReasonPhrase"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="permitCount"/> exceeds a window's limit.</exception>
    /// <exception cref="ObjectDisposedException">The limiter was disposed.</exception>
    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        SlidingLogRateLimiter? fallback = null;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ThrowIfMoreThanLimit(permitCount);
            long now = LocalMicros();
            bool connected = _connection.IsConnected;
            if (!connected)
            {
                MarkFailing(now);
                if (_failureMode == RedisRateLimiterFailureMode.Open)
                {
                    _successful++;
                    return new RedisLease(true, TimeSpan.Zero, RedisLease.OpenReason, null);
                }

                if (_failureMode == RedisRateLimiterFailureMode.LocalFallback && HoldOffPassed(now))
                {
                    fallback = Fallback();
                }
            }

            if (fallback is null)
            {
                _failed++;
                if (_refusedUntil > now)
                {
                    return new RedisLease(false, FromMicros(_refusedUntil - now), RedisLease.LastRefusalReason, null);
                }

                return new RedisLease(false, null, connected ? RedisLease.AttemptNeedsRedisReason : UnreachableReason(now), null);
            }
        }

        return AttemptFallback(fallback, permitCount);
    }

    /// <summary>
    /// Asks Redis (one script call): grants at once if nobody in the fleet is queued and every
    /// window has room; otherwise queues the request in the fleet-wide FIFO queue when this
    /// process's queue has room for it, or fails with the exact retry-after.
    /// </summary>
    /// <param name="permitCount">The permits to take; at most the smallest window limit.</param>
    /// <param name="cancellationToken">Cancels the wait; a cancelled request leaves the queue.</param>
    /// <returns>A granted lease, or a failed one (queue full, Redis unreachable in <see cref="RedisRateLimiterFailureMode.Closed"/> mode, quarantine, or the limiter disposed).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="permitCount"/> exceeds a window's limit.</exception>
    /// <exception cref="ObjectDisposedException">The limiter was disposed.</exception>
    /// <exception cref="TaskCanceledException">The token fired before the request was granted.</exception>
    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
    {
        RedisWaiter w;
        SlidingLogRateLimiter? fallback = null;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ThrowIfMoreThanLimit(permitCount);
            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled<RateLimitLease>(cancellationToken);
            }

            if (!_connection.IsConnected)
            {
                long now = LocalMicros();
                MarkFailing(now);
                switch (_failureMode)
                {
                    case RedisRateLimiterFailureMode.Open:
                        _successful++;
                        return new ValueTask<RateLimitLease>(new RedisLease(true, TimeSpan.Zero, RedisLease.OpenReason, null));
                    case RedisRateLimiterFailureMode.LocalFallback when HoldOffPassed(now):
                        fallback = Fallback();
                        break;
                    default:
                        _failed++;
                        return new ValueTask<RateLimitLease>(new RedisLease(false, null, UnreachableReason(now), null));
                }
            }

            if (fallback is null)
            {
                bool reserve = _queuedPermits + Math.Max(permitCount, 1) <= _queueLimit;
                w = new RedisWaiter(NextTicket(), permitCount, reserve, cancellationToken) { Owner = this };
                Link(w);
            }
            else
            {
                w = null!;
            }
        }

        if (fallback is not null)
        {
            return AcquireFallbackAsync(fallback, permitCount, cancellationToken);
        }

        if (cancellationToken.CanBeCanceled)
        {
            w.Registration = cancellationToken.UnsafeRegister(OnCancelAction, w);
        }

        Track(PollAsync(w));
        return new ValueTask<RateLimitLease>(w.Completion.Task);
    }

    /// <summary>Fails every request waiting in this process, removes their tickets from Redis and stops listening for nudges.</summary>
    /// <param name="disposing">Whether called from <see cref="IDisposable.Dispose"/>.</param>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            DisposeCore();
        }

        base.Dispose(disposing);
    }

    /// <summary>Like <see cref="Dispose(bool)"/>, and waits until the tickets are removed from Redis (or the removals failed).</summary>
    /// <returns>A task that completes when done.</returns>
    protected override async ValueTask DisposeAsyncCore()
    {
        DisposeCore();
        for (int round = 0; round < 4; round++)
        {
            Task[] pending;
            lock (_lock)
            {
                pending = [.. _background];
            }

            if (pending.Length == 0)
            {
                break;
            }

            await Task.WhenAll(pending).ConfigureAwait(false);
        }

        await base.DisposeAsyncCore().ConfigureAwait(false);
    }

    // ---- Internals, also used by tests. ----

    /// <summary>The Redis keys of this limiter, for tests.</summary>
    internal IReadOnlyList<RedisKey> Keys => _keys;

    /// <summary>The requests of this process that hold a ticket in Redis's queue, for tests.</summary>
    internal int ServerQueuedCount
    {
        get
        {
            lock (_lock)
            {
                int count = 0;
                for (RedisWaiter? w = _head; w is not null; w = w.Next)
                {
                    if (w.InServerQueue)
                    {
                        count++;
                    }
                }

                return count;
            }
        }
    }

    private void DisposeCore()
    {
        List<RedisWaiter> waiters = [];
        SlidingLogRateLimiter? fallback;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            fallback = _fallback;
            while (_head is { } w)
            {
                Unlink(w);
                if (w.State == RedisWaiter.Pending)
                {
                    w.State = RedisWaiter.Completed;
                    _failed++;
                    waiters.Add(w);
                }
            }
        }

        _connection.ConnectionRestored -= _onRestored;
        foreach (RedisWaiter w in waiters)
        {
            Finish(w, new RedisLease(false, null, RedisLease.DisposedReason, null));
            bool inQueue;
            lock (_lock)
            {
                inQueue = w.InServerQueue;
            }

            if (inQueue)
            {
                // A call still running for this request hands its answer back when it arrives.
                StartRemoval(w.Ticket, w.PermitCount);
            }
        }

        Track(UnsubscribeAsync());
        fallback?.Dispose();
    }

    private async Task SubscribeAsync()
    {
        try
        {
            await _subscriber.SubscribeAsync(_channel, _onMessage).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            // Without nudges the waiters still wake on their timers: only latency is lost. The
            // multiplexer re-subscribes when it reconnects.
        }
    }

    private async Task UnsubscribeAsync()
    {
        try
        {
            await _subscriber.UnsubscribeAsync(_channel, _onMessage).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
        }
    }

    private async Task PublishNudgeAsync()
    {
        try
        {
            await _subscriber.PublishAsync(_channel, "n").ConfigureAwait(false);
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
        }
    }

    private void OnConnectionRestored()
    {
        Track(FlushOrphansAsync());
        OnNudge();
    }

    /// <summary>The schedule may have moved earlier: forget the recorded refusal and re-ask for the queued requests, in order.</summary>
    private void OnNudge()
    {
        List<RedisWaiter> waiters = [];
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _refusedUntil = 0;
            for (RedisWaiter? w = _head; w is not null; w = w.Next)
            {
                if (w.InServerQueue && w.State == RedisWaiter.Pending)
                {
                    waiters.Add(w);
                }
            }
        }

        if (waiters.Count > 0)
        {
            Track(PumpAsync(waiters));
        }
    }

    /// <summary>
    /// Re-asks for this process's queued requests in queue order until one is still waiting: those
    /// behind it cannot be served before it, so their timers are only brought forward to its time.
    /// </summary>
    private async Task PumpAsync(List<RedisWaiter> waiters)
    {
        for (int i = 0; i < waiters.Count; i++)
        {
            RedisWaiter w = waiters[i];
            await PollAsync(w).ConfigureAwait(false);
            long wake;
            lock (_lock)
            {
                if (w.State != RedisWaiter.Pending || !w.InServerQueue)
                {
                    continue;
                }

                wake = w.WakeAt;
            }

            for (int j = i + 1; j < waiters.Count; j++)
            {
                RedisWaiter later = waiters[j];
                bool earlier;
                lock (_lock)
                {
                    earlier = later.State == RedisWaiter.Pending && later.WakeAt > wake;
                }

                if (earlier)
                {
                    ArmTimer(later, wake);
                }
            }

            return;
        }
    }

    /// <summary>Asks Redis for a request: enters it, or polls its ticket; repeats while asked to again.</summary>
    private async Task PollAsync(RedisWaiter w)
    {
        if (Interlocked.Exchange(ref w.Busy, 1) == 1)
        {
            Volatile.Write(ref w.Again, true);
            return;
        }

        try
        {
            while (true)
            {
                Volatile.Write(ref w.Again, false);
                bool inQueue;
                bool connected = _connection.IsConnected;
                lock (_lock)
                {
                    if (w.State != RedisWaiter.Pending)
                    {
                        return;
                    }

                    inQueue = w.InServerQueue;
                }

                if (!connected)
                {
                    OnCallFailed(w, inQueue);
                }
                else
                {
                    try
                    {
                        Answer answer = await RunAsync(inQueue ? "p" : "e", w.Ticket, w.PermitCount, w.Reserved).ConfigureAwait(false);
                        OnAnswer(w, answer);
                    }
                    catch (Exception ex) when (IsRedisFailure(ex))
                    {
                        OnCallFailed(w, inQueue);
                    }
                }

                if (!Volatile.Read(ref w.Again))
                {
                    return;
                }
            }
        }
        catch (Exception ex)
        {
            // A defect, not a Redis failure: fail the request rather than leave it waiting forever.
            bool pending;
            lock (_lock)
            {
                pending = w.State == RedisWaiter.Pending;
                if (pending)
                {
                    w.State = RedisWaiter.Completed;
                    Unlink(w);
                }
            }

            if (pending)
            {
                w.Registration.Unregister();
                w.Timer?.Dispose();
                w.Completion.TrySetException(ex);
                StartRemoval(w.Ticket, w.PermitCount);
            }
        }
        finally
        {
            Volatile.Write(ref w.Busy, 0);
        }
    }

    private void OnAnswer(RedisWaiter w, Answer answer)
    {
        RedisLease? lease = null;
        bool handBack = false;
        long wake = 0;
        lock (_lock)
        {
            w.Failures = 0;
            bool pending = w.State == RedisWaiter.Pending;
            switch (answer.Status)
            {
                case StatusGranted when pending:
                    w.State = RedisWaiter.Completed;
                    Unlink(w);
                    _successful++;
                    _lastGrant = answer.ReceivedAt;
                    lease = new RedisLease(true, FromMicros(answer.B - answer.Now), null, DateTimeOffset.UnixEpoch.AddTicks(answer.A * 10));
                    break;
                case StatusQueued when pending:
                    w.InServerQueue = true;
                    wake = answer.ReceivedAt + Math.Max(answer.A - answer.Now, 0);
                    break;
                case StatusRefused when pending:
                    w.State = RedisWaiter.Completed;
                    Unlink(w);
                    _failed++;
                    string reason = answer.Quarantine > answer.Now ? RedisLease.QuarantineReason
                        : _queueLimit == 0 ? RedisLease.ExhaustedReason
                        : RedisLease.QueueFullReason;
                    lease = new RedisLease(false, FromMicros(answer.A - answer.Now), reason, null);
                    break;
                case StatusGone when pending:
                    // The ticket expired (this process did not come back in time) or Redis lost it: enter again.
                    w.InServerQueue = false;
                    Volatile.Write(ref w.Again, true);
                    break;
                case StatusGranted or StatusQueued:
                    handBack = true;
                    break;
            }
        }

        if (lease is not null)
        {
            Finish(w, lease);
        }
        else if (wake != 0)
        {
            ArmTimer(w, wake);
        }
        else if (handBack)
        {
            StartRemoval(w.Ticket, w.PermitCount);
        }
    }

    /// <summary>A call for the request failed (Redis unreachable, a time-out, a server error).</summary>
    private void OnCallFailed(RedisWaiter w, bool queued)
    {
        RedisLease? lease = null;
        SlidingLogRateLimiter? fallback = null;
        long retryAt = 0;
        lock (_lock)
        {
            long now = LocalMicros();
            MarkFailing(now);
            if (w.State != RedisWaiter.Pending)
            {
                _orphans.Add((w.Ticket, w.PermitCount));
                return;
            }

            if (_failureMode == RedisRateLimiterFailureMode.Open)
            {
                w.State = RedisWaiter.Completed;
                Unlink(w);
                _successful++;
                lease = new RedisLease(true, TimeSpan.Zero, RedisLease.OpenReason, null);
            }
            else if (_failureMode == RedisRateLimiterFailureMode.LocalFallback && HoldOffPassed(now))
            {
                w.State = RedisWaiter.Completed;
                Unlink(w);
                fallback = Fallback();
            }
            else if (!queued)
            {
                // A new request is refused while Redis cannot be reached.
                w.State = RedisWaiter.Completed;
                Unlink(w);
                _failed++;
                lease = new RedisLease(false, null, UnreachableReason(now), null);
            }
            else
            {
                // A queued request keeps its place and tries again (and at once when the connection is restored).
                w.Failures++;
                long backoff = Math.Min(MaxRetryMicros, MinRetryMicros << Math.Min(w.Failures - 1, 10));
                retryAt = now + backoff;
            }

            if (lease is not null || fallback is not null)
            {
                // Whatever Redis may have done with the ticket is undone once it answers again.
                _orphans.Add((w.Ticket, w.PermitCount));
            }
        }

        if (lease is not null)
        {
            Finish(w, lease);
        }
        else if (fallback is not null)
        {
            w.Registration.Unregister();
            w.Timer?.Dispose();
            Track(CompleteFromFallbackAsync(w, fallback));
        }
        else
        {
            ArmTimer(w, retryAt);
        }
    }

    private async Task CompleteFromFallbackAsync(RedisWaiter w, SlidingLogRateLimiter fallback)
    {
        try
        {
            RateLimitLease lease = await AcquireFallbackAsync(fallback, w.PermitCount, w.CancellationToken).ConfigureAwait(false);
            w.Completion.TrySetResult(lease);
        }
        catch (OperationCanceledException)
        {
            w.Completion.TrySetCanceled(w.CancellationToken);
        }
        catch (Exception ex)
        {
            w.Completion.TrySetException(ex);
        }
    }

    private void OnCancel(RedisWaiter w)
    {
        bool remove;
        lock (_lock)
        {
            if (w.State != RedisWaiter.Pending)
            {
                return;
            }

            w.State = RedisWaiter.Cancelled;
            Unlink(w);
            remove = w.InServerQueue;
        }

        w.Timer?.Dispose();
        w.Completion.TrySetCanceled(w.CancellationToken);
        if (remove)
        {
            // A call still running for it hands its answer back when the answer arrives.
            StartRemoval(w.Ticket, w.PermitCount);
        }
    }

    /// <summary>Completes a request taken out of the list.</summary>
    private static void Finish(RedisWaiter w, RateLimitLease lease)
    {
        w.Registration.Unregister();
        w.Timer?.Dispose();
        w.Completion.TrySetResult(lease);
    }

    private void ArmTimer(RedisWaiter w, long wakeAt)
    {
        ITimer timer;
        TimeSpan due;
        lock (_lock)
        {
            if (w.State != RedisWaiter.Pending || _disposed)
            {
                return;
            }

            w.WakeAt = wakeAt;
            long delay = wakeAt - LocalMicros();

            // Rounded up to the next millisecond: a timer that fires early only costs a call, but late is cheaper.
            due = delay <= 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds((delay + 999) / 1000);
            timer = w.Timer ??= _time.CreateTimer(OnTimerCallback, w, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        try
        {
            timer.Change(due, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // The request completed meanwhile and its timer was disposed.
        }
    }

    private void StartRemoval(string ticket, int permits) => Track(RemoveAsync(ticket, permits));

    private async Task RemoveAsync(string ticket, int permits)
    {
        try
        {
            if (!_connection.IsConnected)
            {
                throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, "Not connected.");
            }

            await RunAsync("r", ticket, permits, false).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            lock (_lock)
            {
                _orphans.Add((ticket, permits));
            }
        }
    }

    private async Task FlushOrphansAsync()
    {
        (string Ticket, int Permits)[] orphans;
        lock (_lock)
        {
            if (_flushing || _orphans.Count == 0)
            {
                return;
            }

            _flushing = true;
            orphans = [.. _orphans];
            _orphans.Clear();
        }

        try
        {
            foreach ((string ticket, int permits) in orphans)
            {
                await RemoveAsync(ticket, permits).ConfigureAwait(false);
            }
        }
        finally
        {
            lock (_lock)
            {
                _flushing = false;
            }
        }
    }

    /// <summary>One script call. Updates what this process knows of Redis from the answer.</summary>
    private async Task<Answer> RunAsync(string op, string ticket, int permits, bool mayQueue)
    {
        RedisValue[] args;
        lock (_lock)
        {
            if (_knownEpoch.Length > 0 && LocalMicros() - _lastContact > EpochForgetMicros())
            {
                // The epoch key may have expired while nobody used the limiter: not a data loss.
                _knownEpoch = string.Empty;
                _lastSeen = 0;
            }

            args = new RedisValue[11 + _windowArgs.Length];
            args[0] = op;
            args[1] = ticket;
            args[2] = permits;
            args[3] = mayQueue ? 1 : 0;
            args[4] = _knownEpoch;
            args[5] = _lastSeen;
            args[6] = _quarantine ? 1 : 0;
            args[7] = _ticketTimeoutMicros;
            args[8] = _ticketPrefix;
            args[9] = _channelName;
            args[10] = _windowArgs.Length / 2;
            Array.Copy(_windowArgs, 0, args, 11, _windowArgs.Length);
        }

        RedisResult result = await _database.ScriptEvaluateAsync(RedisLimiterScript.Text, _keys, args).ConfigureAwait(false);
        long receivedAt = LocalMicros();
        var items = (RedisResult[])result!;
        var answer = new Answer(
            (int)items[0],
            (long)items[1],
            (long)items[2],
            (long)items[3],
            (long)items[5],
            receivedAt);
        bool flush;
        lock (_lock)
        {
            _knownEpoch = (string?)items[4] ?? string.Empty;
            _lastContact = receivedAt;
            _lastSeen = Math.Max(_lastSeen, answer.Now);

            _failingSince = NotFailing;
            _available = (long)items[6];
            if (op != "r")
            {
                _refusedUntil = answer.B > answer.Now ? receivedAt + (answer.B - answer.Now) : 0;
            }

            flush = _orphans.Count > 0 && !_flushing;
        }

        if (flush)
        {
            Track(FlushOrphansAsync());
        }

        return answer;
    }

    private void Track(Task task)
    {
        if (task.IsCompleted)
        {
            return;
        }

        lock (_lock)
        {
            _background.Add(task);
        }

        _ = task.ContinueWith(
            static (t, state) =>
            {
                var self = (RedisSlidingLogRateLimiter)state!;
                lock (self._lock)
                {
                    self._background.Remove(t);
                }
            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private RedisLease AttemptFallback(SlidingLogRateLimiter fallback, int permitCount)
    {
        if (permitCount > MinLimit(fallback))
        {
            return new RedisLease(false, null, "Redis cannot be reached and the request exceeds this process's share of the limit.", null);
        }

        RateLimitLease lease = fallback.AttemptAcquire(permitCount);
        return Wrap(lease);
    }

    private async ValueTask<RateLimitLease> AcquireFallbackAsync(SlidingLogRateLimiter fallback, int permitCount, CancellationToken cancellationToken)
    {
        if (permitCount > MinLimit(fallback))
        {
            return new RedisLease(false, null, "Redis cannot be reached and the request exceeds this process's share of the limit.", null);
        }

        RateLimitLease lease = await fallback.AcquireAsync(permitCount, cancellationToken).ConfigureAwait(false);
        return Wrap(lease);
    }

    private RedisLease Wrap(RateLimitLease lease)
    {
        using (lease)
        {
            TimeSpan? retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan value) ? value : null;
            lock (_lock)
            {
                if (lease.IsAcquired)
                {
                    _successful++;
                }
                else
                {
                    _failed++;
                }
            }

            return new RedisLease(
                lease.IsAcquired,
                retryAfter,
                lease.IsAcquired ? "Granted by this process's local fallback: Redis cannot be reached." : "Refused by this process's local fallback: Redis cannot be reached.",
                null);
        }
    }

    private static int MinLimit(SlidingLogRateLimiter limiter)
    {
        int min = int.MaxValue;
        foreach (SlidingLogWindow window in limiter.Windows)
        {
            min = Math.Min(min, window.PermitLimit);
        }

        return min;
    }

    // ---- Everything below runs under _lock (or in the constructor). ----

    private SlidingLogRateLimiter Fallback()
    {
        if (_fallback is null)
        {
            var options = new SlidingLogRateLimiterOptions { QueueLimit = _queueLimit, TimeProvider = _time };
            foreach (SlidingLogWindow window in _windows)
            {
                options.Windows.Add(new SlidingLogWindow(Math.Max(1, (int)Math.Floor(window.PermitLimit * _share)), window.Period));
            }

            _fallback = new SlidingLogRateLimiter(options);
        }

        return _fallback;
    }

    private void MarkFailing(long now)
    {
        if (_failingSince == NotFailing)
        {
            _failingSince = now;
        }
    }

    private bool HoldOffPassed(long now) => _failingSince != NotFailing && now - _failingSince >= _longestMicros;

    private string UnreachableReason(long now) =>
        _failureMode == RedisRateLimiterFailureMode.LocalFallback && !HoldOffPassed(now) ? RedisLease.HoldOffReason : RedisLease.UnreachableReason;

    private long EpochForgetMicros() => (2 * _longestMicros) + 8_000_000;

    private string NextTicket() =>
        _ticketPrefix + Interlocked.Increment(ref _ticketCounter).ToString(CultureInfo.InvariantCulture);

    private long LocalMicros() => (long)((Int128)_time.GetTimestamp() * 1_000_000 / _time.TimestampFrequency);

    private static TimeSpan FromMicros(long micros) => micros <= 0 ? TimeSpan.Zero : TimeSpan.FromTicks(micros * 10);

    [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(_windows), nameof(_windowArgs))]
    private void SetWindowsCore(SlidingLogWindow[] specs)
    {
        var args = new RedisValue[specs.Length * 2];
        int min = int.MaxValue;
        long longest = 0;
        for (int i = 0; i < specs.Length; i++)
        {
            long micros = (specs[i].Period.Ticks + 9) / 10;
            args[2 * i] = micros;
            args[(2 * i) + 1] = specs[i].PermitLimit;
            min = Math.Min(min, specs[i].PermitLimit);
            longest = Math.Max(longest, micros);
        }

        _windows = specs;
        _windowArgs = args;
        _minLimit = min;
        _longestMicros = longest;
    }

    private void Link(RedisWaiter w)
    {
        w.Previous = _tail;
        if (_tail is null)
        {
            _head = w;
        }
        else
        {
            _tail.Next = w;
        }

        _tail = w;
        w.Linked = true;
        if (w.Reserved)
        {
            _queuedPermits += w.QueueWeight;
        }
    }

    private void Unlink(RedisWaiter w)
    {
        if (!w.Linked)
        {
            return;
        }

        if (w.Previous is null)
        {
            _head = w.Next;
        }
        else
        {
            w.Previous.Next = w.Next;
        }

        if (w.Next is null)
        {
            _tail = w.Previous;
        }
        else
        {
            w.Next.Previous = w.Previous;
        }

        w.Next = null;
        w.Previous = null;
        w.Linked = false;
        if (w.Reserved)
        {
            _queuedPermits -= w.QueueWeight;
        }
    }

    private void ThrowIfMoreThanLimit(int permitCount)
    {
        if (permitCount > _minLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(permitCount), permitCount, $"The request exceeds the smallest window's permit limit ({_minLimit}), so it could never be granted.");
        }
    }

    private static bool IsRedisFailure(Exception ex) => ex is RedisException or TimeoutException or ObjectDisposedException;

    private static SlidingLogWindow[] ValidateWindows(SlidingLogWindow[] windows, string paramName)
    {
        if (windows.Length == 0)
        {
            throw new ArgumentException("At least one window is required.", paramName);
        }

        foreach (SlidingLogWindow window in windows)
        {
            if (window.PermitLimit <= 0 || window.Period <= TimeSpan.Zero)
            {
                throw new ArgumentException("Every window must be created with the SlidingLogWindow constructor (a positive limit and period).", paramName);
            }
        }

        return windows;
    }

    /// <summary>The script's answer. Times are the server's, in microseconds; <see cref="ReceivedAt"/> is local.</summary>
    private readonly record struct Answer(int Status, long Now, long A, long B, long Quarantine, long ReceivedAt);
}
