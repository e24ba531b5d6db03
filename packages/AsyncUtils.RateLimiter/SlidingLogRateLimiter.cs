using System.Collections.ObjectModel;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;
using BclRateLimiter = System.Threading.RateLimiting.RateLimiter;
#if NET9_0_OR_GREATER
using LockType = System.Threading.Lock;
#else
using LockType = System.Object;
#endif

namespace AsyncUtils;

/// <summary>
/// An exact sliding-log rate limiter: in any window of length <see cref="SlidingLogWindow.Period"/>
/// at most <see cref="SlidingLogWindow.PermitLimit"/> permits are granted, for every configured
/// window at once. It derives from <see cref="System.Threading.RateLimiting.RateLimiter"/>, so it
/// plugs into <see cref="PartitionedRateLimiter"/>, chained limiters, ASP.NET Core's rate-limiting
/// middleware and Polly's rate limiter strategy unchanged.
/// </summary>
/// <remarks>
/// <para>
/// <b>Exact.</b> The limiter keeps the time of every grant still inside its longest window (grants
/// made at the same timestamp share one entry), so "at most N in any window of length T" holds
/// for every window position, not only for fixed segments as in the BCL's
/// <see cref="SlidingWindowRateLimiter"/>. A permit granted at <c>t</c> is free again at exactly
/// <c>t + Period</c> on any <see cref="TimeProvider"/> but the system one (a fake clock in tests, a
/// custom provider).
/// </para>
/// <para>
/// <b>Clock granularity on <see cref="TimeProvider.System"/>.</b> On 64-bit Linux a granted
/// one-permit acquire takes no lock: it reads the kernel's coarse clock
/// (<see cref="Environment.TickCount64"/>, a few nanoseconds) instead of the precise one and takes
/// its permit with one compare-exchange, and the grant is stamped at the end of that clock's
/// current tick plus one more, the latest moment the grant can have happened (the kernel's coarse
/// clock trails the precise one by up to about two ticks). So a permit frees up to two ticks plus
/// one millisecond late (the tick is clock_getres of CLOCK_MONOTONIC_COARSE: 3 ms late at 1000 Hz,
/// 9 ms at 250 Hz; the limiter does not use the coarse clock if its tick is over 10 ms), and never
/// early: "at most N in any window" still holds exactly. The limiter checks that bound against the
/// precise clock at every tick and every 64 grants, and uses the precise clock while it fails (a
/// virtual machine whose timer interrupts are held up). A request that path cannot take (several
/// permits, the last permit of a window, a queue, a new tick) takes the lock and is decided on
/// the precise clock, and timers, queued grants, retry-after and statistics always use the
/// precise clock. Elsewhere (Windows, macOS, 32-bit) and with any other
/// <see cref="TimeProvider"/> every acquire takes the lock and reads the precise clock, and
/// permits free exactly on time.
/// </para>
/// <para>
/// <b>Several windows, all or nothing.</b> A request is granted only when every window has room
/// for all of its permits, and then counts against every window. (Chaining two BCL limiters can
/// take permits from the first and then fail on the second.)
/// </para>
/// <para>
/// <b>Waiting.</b> <see cref="BclRateLimiter.AcquireAsync"/> queues in strict FIFO order up to
/// <see cref="QueueLimit"/> permits (a zero-permit request, which waits for one permit to be free,
/// takes one place, so with a <see cref="QueueLimit"/> of zero nobody waits); a newcomer is never
/// granted ahead of a queued request. The
/// head of the queue is woken by one timer set for the exact moment enough permits leave the
/// window (rounded up to the timer's millisecond resolution), never by polling. A request that
/// cannot be queued fails at once with a lease that says when to retry.
/// </para>
/// <para>
/// <b>Cancellation.</b> A queued request whose token fires leaves the queue (making room for the
/// ones behind it) and its task throws <see cref="TaskCanceledException"/> carrying the token, as
/// the BCL limiters do (so does a request whose token had fired before it would have queued). If
/// the token fires after the grant but before the caller has read the lease, the grant is handed
/// back (the permits return to the window) and the caller still sees the cancellation: a grant is
/// either used or returned, never lost.
/// </para>
/// <para>
/// <b>Retry-after.</b> Every lease carries <see cref="MetadataName.RetryAfter"/>. On a failed lease
/// it is the exact time until that request could be granted: the time until the windows free
/// enough permits for it or, when requests are queued ahead, until every one of them has been
/// served in order and the windows then have room for it (exact as long as no queued request is
/// cancelled and the limits do not change; each timer wake-up may add its millisecond rounding). On a
/// granted lease it is the time until the next permit after this grant frees: zero when another
/// permit is free right now (that lease is a shared cached instance, which is why a granted
/// acquire allocates nothing), otherwise the exact wait for the next caller. A lease from a
/// disposed limiter carries only a <see cref="MetadataName.ReasonPhrase"/>.
/// </para>
/// <para>
/// <b>Statistics.</b> <see cref="RateLimiterStatistics.TotalSuccessfulLeases"/> and
/// <see cref="RateLimiterStatistics.TotalFailedLeases"/> only grow, so exporters can treat them
/// as counters. A grant counts as successful once it is final: at once, unless it can still be
/// handed back (a queued request whose token can fire), in which case it counts when its caller
/// reads the lease. A grant handed back after a late cancellation counts as neither, like a
/// cancelled request in the BCL limiters.
/// </para>
/// <para>
/// <b>Leases.</b> Disposing a lease does nothing: a permit is spent when granted and frees itself
/// when it leaves the window. Re-entrant use simply takes another permit.
/// </para>
/// <para>
/// <b>Thread safety and cost.</b> Every member is thread-safe. Acquiring takes a short lock and
/// reads the clock once, except on the coarse clock, where a one-permit grant that leaves another
/// permit free takes no lock (one coarse clock read and one compare-exchange; the lock and the
/// precise clock once per tick and every 64 grants); a granted <see cref="BclRateLimiter.AttemptAcquire"/> or an immediately
/// granted <see cref="BclRateLimiter.AcquireAsync"/> allocates nothing while another permit is
/// left. Queued requests allocate one small object each. Memory is O(largest permit limit): the
/// log holds at most one entry per permit still inside the longest window.
/// </para>
/// <para>
/// <b>Time.</b> Timestamps and timers come from the <see cref="TimeProvider"/> in the options, so
/// tests can drive the limiter with a fake clock.
/// </para>
/// <para>
/// <b>Composition.</b> <see cref="IdleDuration"/> is <see langword="null"/> while a grant is in
/// the log, so a <see cref="PartitionedRateLimiter"/> keeps the partition. Do not make a chained
/// limiter the partition: a chain reports the lowest non-null idle time of its members and ignores
/// this <see langword="null"/>, so the partition can be retired, and replaced by a fresh limiter,
/// while the log still holds a grant. Give one limiter several windows instead, or chain the
/// partitioned limiters (<see cref="PartitionedRateLimiter.CreateChained{TResource}"/>).
/// </para>
/// </remarks>
public sealed class SlidingLogRateLimiter : BclRateLimiter
{
    private const long Never = long.MaxValue;
    private const int CountBits = 16;
    private const long CountMask = (1L << CountBits) - 1;
    private const long Closed = CountMask;
    private const int InitialLogCapacity = 16;

    private readonly LockType _lock = new();
    private readonly Clock _clock;
    private readonly bool _coarse;
    private readonly long _createdAt;
    private readonly string? _name;

    private ReadOnlyCollection<SlidingLogWindow> _specs;
    private WindowState[] _windows;
    private int _longest;
    private int _minLimit;

    private LogEntry[] _log = new LogEntry[InitialLogCapacity];
    private long _end;
    private long _lastGrantAt = long.MinValue;

    // The lock-free grant path on the coarse clock (see TryFastGrant). _fast packs a generation,
    // bumped each time the path opens, over the permits granted on it since (low CountBits bits);
    // those bits read Closed while the path is shut. The fields after it describe the open
    // generation and are written, under the lock, before _fast publishes it.
    private long _fast = Closed;
    private long _fastTick = long.MinValue;
    private long _fastStamp;
    private int _fastLimit;

    private LimiterWaiter? _head;
    private LimiterWaiter? _tail;
    private long _queuedPermits;
    private int _queueLimit;

    private ITimer? _timer;
    private long _timerDue = Never;

    private long _successfulLeases;
    private long _deliveredGrants;
    private long _failedLeases;
    private bool _disposed;

    // The refusal behind a queue: when the queue, served in order, lets a newcomer through. The
    // simulation is cached until the queue, the log's counts or the windows change.
    private long _queueVersion;
    private long _simulatedVersion = -1;
    private long _simulatedHeadAt;
    private long _simulatedDrainedAt;
    private long _simulatedPermits;
    private TimelineCursor[] _simulatedCursors = [];

    /// <summary>Creates a limiter with one window.</summary>
    /// <param name="permitLimit">The most permits granted in any window of length <paramref name="period"/>; greater than zero.</param>
    /// <param name="period">The window length; greater than zero and at most 3650 days.</param>
    /// <param name="queueLimit">The most permits that may wait in the FIFO queue (a zero-permit request takes one place); zero means nobody waits.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range.</exception>
    public SlidingLogRateLimiter(int permitLimit, TimeSpan period, int queueLimit)
        : this(CreateOptions(permitLimit, period, queueLimit))
    {
    }

    /// <summary>Creates a limiter from options, which are copied.</summary>
    /// <param name="options">The windows, queue limit and time provider.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">There is no window, a window is the default value, or the queue limit is negative.</exception>
    public SlidingLogRateLimiter(SlidingLogRateLimiterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.QueueLimit < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.QueueLimit, "QueueLimit must not be negative.");
        }

        SlidingLogWindow[] specs = ValidateWindows([.. options.Windows], nameof(options));
        _clock = new Clock(options.TimeProvider ?? TimeProvider.System);
        _coarse = _clock.IsCoarse;
        _queueLimit = options.QueueLimit;
        _createdAt = _clock.Now();
        _specs = Array.AsReadOnly(specs);
        _windows = BuildWindows(specs, _createdAt, out _longest, out _minLimit);
        _name = options.Name;

        // Metrics read the counters above when a listener collects; a grant pays nothing for them.
        RateLimiterMetrics.Register(this);
    }

    /// <summary>The windows now enforced.</summary>
    public IReadOnlyList<SlidingLogWindow> Windows
    {
        get
        {
            lock (_lock)
            {
                return _specs;
            }
        }
    }

    /// <summary>
    /// The most permits that may wait in the queue; zero means nobody waits. A zero-permit request
    /// takes one place. Setting it takes effect for the next request; lowering it below what is
    /// already queued removes nobody.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int QueueLimit
    {
        get => Volatile.Read(ref _queueLimit);
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            lock (_lock)
            {
                _queueLimit = value;
            }
        }
    }

    /// <summary>
    /// How long every window has been empty (all permits available and nobody queued), or
    /// <see langword="null"/> when a permit is in use or a request waits.
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

                CloseFastPath();
                long now = _clock.Now();
                Trim(now);
                foreach (ref readonly WindowState window in _windows.AsSpan())
                {
                    if (window.Count > 0)
                    {
                        return null;
                    }
                }

                long idleSince = _lastGrantAt == long.MinValue
                    ? _createdAt
                    : Math.Max(_createdAt, _lastGrantAt + _windows[_longest].Period);
                return _clock.ToTimeSpan(now - idleSince);
            }
        }
    }

    /// <summary>
    /// Replaces the windows at run time. Grants already made count against the new windows as far
    /// as the log still holds them: it keeps grants for the longest window in force before the
    /// change, so a lengthened window does not see grants older than that. Queued requests that
    /// ask for more permits than a new window allows fail with a lease saying so; the rest are
    /// served under the new limits, and the timer is re-armed for them.
    /// </summary>
    /// <param name="windows">The new windows; at least one.</param>
    /// <exception cref="ArgumentNullException"><paramref name="windows"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="windows"/> is empty or holds a default value.</exception>
    /// <exception cref="ObjectDisposedException">The limiter was disposed.</exception>
    public void SetWindows(params SlidingLogWindow[] windows)
    {
        ArgumentNullException.ThrowIfNull(windows);
        SlidingLogWindow[] specs = ValidateWindows([.. windows], nameof(windows));
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            CloseFastPath();
            long now = _clock.Now();
            Trim(now);
            _windows = BuildWindows(specs, now, out _longest, out _minLimit);
            _specs = Array.AsReadOnly(specs);
            for (LimiterWaiter? waiter = _head; waiter is not null;)
            {
                LimiterWaiter? next = waiter.Next;
                if (waiter.PermitCount > _minLimit)
                {
                    Dequeue(waiter);
                    _failedLeases++;
                    waiter.Fail(new SlidingLogLease(false, null, SlidingLogLease.LimitLoweredReason));
                }

                waiter = next;
            }

            ProcessQueue(now);
        }
    }

    /// <summary>
    /// A snapshot of the limiter: permits free in the fullest window, permits queued (a zero-permit
    /// request counts one), and the totals of successful and failed leases, which only grow. A
    /// queued grant that could still be handed back counts as successful once its caller reads it.
    /// </summary>
    /// <returns>A new snapshot.</returns>
    /// <exception cref="ObjectDisposedException">The limiter was disposed.</exception>
    public override RateLimiterStatistics? GetStatistics()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            CloseFastPath();
            long now = _clock.Now();
            Trim(now);
            long available = long.MaxValue;
            foreach (ref readonly WindowState window in _windows.AsSpan())
            {
                available = Math.Min(available, window.Limit - window.Count);
            }

            return new RateLimiterStatistics
            {
                CurrentAvailablePermits = Math.Max(available, 0),
                CurrentQueuedCount = _queuedPermits,
                TotalFailedLeases = _failedLeases,
                TotalSuccessfulLeases = _successfulLeases + Interlocked.Read(ref _deliveredGrants),
            };
        }
    }

    /// <summary>
    /// Grants <paramref name="permitCount"/> permits now if every window has room and nobody is
    /// queued; otherwise returns a failed lease with the retry-after time. Zero permits asks
    /// whether one permit would be granted now, without taking it.
    /// </summary>
    /// <param name="permitCount">The permits to take; at most the smallest window limit.</param>
    /// <returns>A granted or failed lease, both with <see cref="MetadataName.RetryAfter"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="permitCount"/> exceeds a window's limit.</exception>
    /// <exception cref="ObjectDisposedException">The limiter was disposed.</exception>
    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        if (permitCount == 1 && TryFastGrant())
        {
            return SlidingLogLease.GrantedWithRoom;
        }

        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ThrowIfMoreThanLimit(permitCount);
            CloseFastPath();
            if (TryGrantNow(permitCount, out long now) is { } lease)
            {
                return lease;
            }

            _failedLeases++;
            return FailedLease(permitCount, now, _head is null ? SlidingLogLease.ExhaustedReason : SlidingLogLease.QueuedAheadReason);
        }
    }

    /// <summary>
    /// Grants <paramref name="permitCount"/> permits now if every window has room and nobody is
    /// queued; otherwise queues the request (FIFO) until the windows have room, or fails at once
    /// when the queue has no room for it (a zero-permit request takes one place, so with a
    /// <see cref="QueueLimit"/> of zero it fails at once too).
    /// </summary>
    /// <param name="permitCount">The permits to take; at most the smallest window limit.</param>
    /// <param name="cancellationToken">Cancels the wait; a cancelled request leaves the queue.</param>
    /// <returns>A granted lease, or a failed one when the queue is full or the limiter is disposed while waiting.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="permitCount"/> exceeds a window's limit.</exception>
    /// <exception cref="ObjectDisposedException">The limiter was disposed.</exception>
    /// <exception cref="TaskCanceledException">The token fired before the request was granted, or after the grant but before the lease was read (the grant is then handed back).</exception>
    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken)
    {
        if (permitCount == 1 && TryFastGrant())
        {
            return new ValueTask<RateLimitLease>(SlidingLogLease.GrantedWithRoom);
        }

        LimiterWaiter waiter;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            ThrowIfMoreThanLimit(permitCount);
            CloseFastPath();
            if (TryGrantNow(permitCount, out long now) is { } lease)
            {
                return new ValueTask<RateLimitLease>(lease);
            }

            // A zero-permit request waits for one permit, so it takes one place: QueueLimit = 0 means nobody waits.
            if (_queuedPermits + Math.Max(permitCount, 1) > _queueLimit)
            {
                _failedLeases++;
                return new ValueTask<RateLimitLease>(FailedLease(permitCount, now, SlidingLogLease.QueueFullReason));
            }

            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled<RateLimitLease>(cancellationToken);
            }

            waiter = new LimiterWaiter(this, permitCount, cancellationToken) { EnqueuedAt = now };
            Enqueue(waiter);
            if (ReferenceEquals(_head, waiter))
            {
                ArmTimer(ReadyAt(permitCount), now);
            }
        }

        waiter.Register();
        return waiter.AsValueTask();
    }

    /// <summary>Fails every queued request with a lease saying the limiter was disposed and stops the timer.</summary>
    /// <param name="disposing">Whether called from <see cref="IDisposable.Dispose"/>.</param>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            ITimer? timer;
            lock (_lock)
            {
                if (_disposed)
                {
                    return;
                }

                CloseFastPath();
                _disposed = true;
                timer = _timer;
                _timer = null;
                while (_head is { } waiter)
                {
                    Dequeue(waiter);
                    _failedLeases++;
                    waiter.Fail(new SlidingLogLease(false, null, SlidingLogLease.DisposedReason));
                }
            }

            timer?.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <inheritdoc/>
    protected override ValueTask DisposeAsyncCore()
    {
        Dispose(true);
        return base.DisposeAsyncCore();
    }

    /// <summary>Whether grants are stamped from the coarse system clock, for tests.</summary>
    internal bool UsesCoarseClock => _coarse;

    /// <summary>
    /// For tests, on one thread: the stamp the open lock-free path gives its grants and how many it
    /// has made, or <see langword="null"/> while it is shut.
    /// </summary>
    internal (long Stamp, long Granted)? FastPathForTests
    {
        get
        {
            long state = Volatile.Read(ref _fast);
            return (state & CountMask) == Closed ? null : (_fastStamp, state & CountMask);
        }
    }

    /// <summary>The log's capacity in entries, for tests of the memory bound.</summary>
    internal int LogCapacity
    {
        get
        {
            lock (_lock)
            {
                CloseFastPath();
                return _log.Length;
            }
        }
    }

    /// <summary>Called by a waiter's cancellation registration.</summary>
    internal void OnWaiterCancelled(LimiterWaiter waiter)
    {
        lock (_lock)
        {
            CloseFastPath();
            if (waiter.State == LimiterWaiter.Queued)
            {
                Dequeue(waiter);
                waiter.Cancel();
            }
            else if (waiter.State == LimiterWaiter.Granted && waiter.TryHandBack())
            {
                // The grant never reached its caller, so it was never counted as successful.
                Unrecord(waiter.GrantSequence, waiter.PermitCount);
            }
            else
            {
                return;
            }

            if (!_disposed)
            {
                long now = _clock.Now();
                Trim(now);
                ProcessQueue(now);
            }
        }
    }

    /// <summary>Called by a waiter whose caller read a grant that could still have been handed back.</summary>
    internal void OnGrantDelivered() => Interlocked.Increment(ref _deliveredGrants);

    /// <summary>The name given in the options, for the metrics' tag.</summary>
    internal string? MetricsName => _name;

    /// <summary>
    /// For the observable instruments: the lease totals of <see cref="GetStatistics"/> and the permits
    /// queued, read under the lock without trimming anything; <see langword="false"/> once disposed.
    /// </summary>
    internal bool TryReadCounters(out long granted, out long rejected, out long queued)
    {
        lock (_lock)
        {
            granted = _successfulLeases + Interlocked.Read(ref _deliveredGrants) + FastGrantsNotFolded();
            rejected = _failedLeases;
            queued = _queuedPermits;
            return !_disposed;
        }
    }

    /// <summary>
    /// Records how long a queued request waited, on its caller's thread when it reads the outcome,
    /// outside the lock. A listener that throws is ignored: it must not change the outcome.
    /// </summary>
    internal void RecordWait(long enqueuedAt, string result)
    {
        Histogram<double> histogram = RateLimiterMetrics.WaitDuration;
        if (!histogram.Enabled)
        {
            return;
        }

        try
        {
            double seconds = _clock.ToTimeSpan(_clock.Now() - enqueuedAt).TotalSeconds;
            var resultTag = new KeyValuePair<string, object?>(RateLimiterMetrics.ResultTag, result);
            if (_name is null)
            {
                histogram.Record(seconds, resultTag);
            }
            else
            {
                histogram.Record(seconds, resultTag, new KeyValuePair<string, object?>(RateLimiterMetrics.NameTag, _name));
            }
        }
#pragma warning disable CA1031 // An observer must not break an acquire.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private void OnTimer()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _timerDue = Never;
            CloseFastPath();
            long now = _clock.Now();
            Trim(now);
            ProcessQueue(now);
        }
    }

    /// <summary>
    /// The lock-free grant of one permit on the coarse system clock: one coarse clock read and one
    /// compare-exchange. Succeeds only while the path is open (nobody queued, not disposed, room
    /// left in every window) and the coarse clock still shows the reading the path was opened on.
    /// </summary>
    /// <remarks>
    /// Exact because: the state is read before the clock, so the windows the path's room was
    /// computed from were trimmed on a precise time no later than this grant's clock read; the
    /// grant happened when that read showed the path's reading, so no later than its stamp
    /// (<see cref="CloseFastPath"/>); and the compare-exchange admits it only while the path's
    /// count, which every grant since the path opened has raised, stays under the room. A thread
    /// held up between its read and its compare-exchange still counts from its read: if the path
    /// was shut meanwhile, the compare-exchange fails on the new state and the call takes the lock.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryFastGrant()
    {
        long state = Volatile.Read(ref _fast);
        if ((state & CountMask) >= _fastLimit || Environment.TickCount64 != _fastTick)
        {
            return false;
        }

        return Interlocked.CompareExchange(ref _fast, state + 1, state) == state || RetryFastGrant(state);
    }

    /// <summary>Another grant came first: retries while the same generation has room; otherwise the caller takes the lock.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool RetryFastGrant(long state)
    {
        while (true)
        {
            long seen = Volatile.Read(ref _fast);
            if (((seen ^ state) >> CountBits) != 0 || (seen & CountMask) >= _fastLimit)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _fast, seen + 1, seen) == seen)
            {
                return true;
            }

            state = seen;
        }
    }

    // ---- Everything below runs under _lock. ----

    /// <summary>
    /// Grants at once if nobody is queued and every window has room, stamped with the precise
    /// time; otherwise returns <see langword="null"/>. Either way <paramref name="now"/> is the
    /// precise time. After a grant on the coarse clock it opens the lock-free path (see
    /// <see cref="TryFastGrant"/>) for the coarse reading taken just before the precise one.
    /// </summary>
    private SlidingLogLease? TryGrantNow(int permitCount, out long now)
    {
        long tick = _coarse ? Environment.TickCount64 : 0;
        now = _clock.Now();
        Trim(now);
        if (_head is not null || !Fits(permitCount))
        {
            return null;
        }

        SlidingLogLease lease = GrantNow(permitCount, now);
        if (_coarse)
        {
            OpenFastPath(tick, now);
        }

        return lease;
    }

    /// <summary>
    /// Opens the lock-free path for grants made while the coarse clock reads <paramref name="tick"/>,
    /// if that reading is close enough to <paramref name="precise"/> (read after it) to stamp from
    /// and another permit would be left after one more grant. The path takes at most
    /// <see cref="CoarseClock.CheckEvery"/> grants, and fewer than the room every window has now
    /// (trimmed at <paramref name="precise"/>), so each of its grants leaves a permit free and the
    /// precise clock is checked again at least every <see cref="CoarseClock.CheckEvery"/> grants.
    /// </summary>
    private void OpenFastPath(long tick, long precise)
    {
        long reading = CoarseClock.FromTick(tick);
        if (!CoarseClock.IsCloseEnough(reading, precise))
        {
            return;
        }

        long room = long.MaxValue;
        foreach (ref readonly WindowState window in _windows.AsSpan())
        {
            room = Math.Min(room, window.Limit - window.Count);
        }

        // A grant must leave a permit free (its lease is the cached one), so the path takes room - 1.
        long limit = Math.Min(room - 1, CoarseClock.CheckEvery);
        if (limit < 1)
        {
            return;
        }

        _fastTick = tick;
        _fastStamp = reading + CoarseClock.StampOffset;
        _fastLimit = (int)limit;
        long generation = (Volatile.Read(ref _fast) >> CountBits) + 1;
        Volatile.Write(ref _fast, generation << CountBits);
    }

    /// <summary>
    /// Shuts the lock-free path and folds its grants into the log, stamped at the end of the tick
    /// they were made in (<see cref="CoarseClock.StampOffset"/> after its reading): every one of
    /// them read that reading before it took its permit, so it happened no later than the stamp
    /// and its permit frees late, never early. Every caller that reads or changes the windows
    /// calls this first, under the lock, so they count every grant made so far.
    /// </summary>
    private void CloseFastPath()
    {
        long state = Volatile.Read(ref _fast);
        while ((state & CountMask) != Closed)
        {
            long seen = Interlocked.CompareExchange(ref _fast, state | Closed, state);
            if (seen == state)
            {
                int granted = (int)(state & CountMask);
                if (granted > 0)
                {
                    Record(_fastStamp, granted);
                    _successfulLeases += granted;
                }

                return;
            }

            state = seen;
        }
    }

    /// <summary>The grants the open lock-free path has made and <see cref="CloseFastPath"/> has not yet folded.</summary>
    private long FastGrantsNotFolded()
    {
        long count = Volatile.Read(ref _fast) & CountMask;
        return count == Closed ? 0 : count;
    }

    private SlidingLogLease GrantNow(int permitCount, long now)
    {
        if (permitCount > 0)
        {
            Record(now, permitCount);
        }

        _successfulLeases++;
        return LeaseAfterGrant(now);
    }

    private SlidingLogLease LeaseAfterGrant(long now) =>
        Fits(1) ? SlidingLogLease.GrantedWithRoom : new SlidingLogLease(true, _clock.ToTimeSpan(ReadyAt(1) - now), null);

    private SlidingLogLease FailedLease(int permitCount, long now, string reason)
    {
        long ready = _head is null ? ReadyAt(permitCount) : ReadyBehindQueue(permitCount, now);
        TimeSpan? retryAfter = ready == Never ? null : _clock.ToTimeSpan(ready - now);
        return new SlidingLogLease(false, retryAfter, reason);
    }

    /// <summary>Grants queued requests, in order, while the windows have room; arms the timer for the first that must wait.</summary>
    private void ProcessQueue(long now)
    {
        while (_head is { } waiter)
        {
            int permitCount = waiter.PermitCount;
            if (!Fits(permitCount))
            {
                ArmTimer(ReadyAt(permitCount), now);
                return;
            }

            Dequeue(waiter);
            long sequence = permitCount > 0 ? Record(now, permitCount) : -1;
            if (!waiter.CountsOnRead)
            {
                // Nothing can hand this grant back, so it is final now; otherwise it counts when read.
                _successfulLeases++;
            }

            // The waiter runs its continuation asynchronously, so no caller code runs under the lock.
            waiter.Grant(LeaseAfterGrant(now), sequence);
        }

        DisarmTimer();
    }

    private void ArmTimer(long dueTimestamp, long now)
    {
        if (dueTimestamp == Never)
        {
            DisarmTimer();
            return;
        }

        if (dueTimestamp == _timerDue)
        {
            return;
        }

        _timerDue = dueTimestamp;
        _timer ??= _clock.CreateTimer(static state => ((SlidingLogRateLimiter)state!).OnTimer(), this);
        _timer.Change(Clock.TimerDelay(_clock.ToTimeSpan(dueTimestamp - now)), Timeout.InfiniteTimeSpan);
    }

    private void DisarmTimer()
    {
        if (_timerDue != Never)
        {
            _timerDue = Never;
            _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Moves each window's start past the grants that have left it.</summary>
    private void Trim(long now)
    {
        LogEntry[] log = _log;
        long mask = log.Length - 1;
        long end = _end;
        foreach (ref WindowState window in _windows.AsSpan())
        {
            long cutoff = now - window.Period;
            long head = window.Head;
            while (head < end)
            {
                ref LogEntry entry = ref log[head & mask];
                if (entry.Timestamp > cutoff)
                {
                    break;
                }

                window.Count -= entry.Count;
                head++;
            }

            window.Head = head;
        }
    }

    /// <summary>Whether every window has room for the request (zero permits asks about one).</summary>
    private bool Fits(int permitCount)
    {
        int needed = Math.Max(permitCount, 1);
        foreach (ref readonly WindowState window in _windows.AsSpan())
        {
            if (window.Count + needed > window.Limit)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The timestamp at which every window will have room for the request if nothing else is granted.</summary>
    private long ReadyAt(int permitCount)
    {
        int needed = Math.Max(permitCount, 1);
        LogEntry[] log = _log;
        long mask = log.Length - 1;
        long ready = long.MinValue;
        foreach (ref readonly WindowState window in _windows.AsSpan())
        {
            long excess = window.Count + needed - window.Limit;
            if (excess <= 0)
            {
                continue;
            }

            if (needed > window.Limit)
            {
                return Never;
            }

            // The window has room once the oldest grants holding `excess` permits have left it.
            long freed = 0;
            for (long sequence = window.Head; sequence < _end; sequence++)
            {
                ref LogEntry entry = ref log[sequence & mask];
                freed += entry.Count;
                if (freed >= excess)
                {
                    ready = Math.Max(ready, entry.Timestamp + window.Period);
                    break;
                }
            }
        }

        return ready;
    }

    /// <summary>
    /// The timestamp at which a request for <paramref name="permitCount"/> permits arriving now
    /// could be granted, with requests queued ahead: every queued request is served first, in
    /// order, each at the first moment every window has room for it over the grants before it
    /// (the log, then the queued requests served ahead of it). Exact as long as nothing changes
    /// (no cancellation, no new limits); each timer tick may add its millisecond rounding.
    /// </summary>
    private long ReadyBehindQueue(int permitCount, long now)
    {
        if (_simulatedVersion != _queueVersion || _simulatedHeadAt <= now)
        {
            SimulateQueue(now);
        }

        long needed = Math.Max(permitCount, 1);
        long ready = _simulatedDrainedAt;
        WindowState[] windows = _windows;
        for (int i = 0; i < windows.Length; i++)
        {
            long index = _simulatedPermits + needed - windows[i].Limit;
            if (index >= 1)
            {
                // A copy: the cached cursor stays at the last queued request for the next refusal.
                TimelineCursor cursor = _simulatedCursors[i];
                ready = Math.Max(ready, TimestampOfPermit(ref cursor, index) + windows[i].Period);
            }
        }

        return ready;
    }

    /// <summary>Computes, and caches, when each queued request will be served if nothing changes.</summary>
    private void SimulateQueue(long now)
    {
        WindowState[] windows = _windows;
        TimelineCursor[] cursors = _simulatedCursors;
        long origin = windows[_longest].Head;
        for (int i = 0; i < cursors.Length; i++)
        {
            cursors[i] = new TimelineCursor { Sequence = origin };
        }

        // Permits are numbered from 1 in grant order: the log from the longest window's start,
        // then the queued requests. A request needing n permits fits a window of limit L once the
        // permit numbered (permits before it + n - L) has left that window.
        long permits = windows[_longest].Count;
        long at = now;
        for (LimiterWaiter? waiter = _head; waiter is not null; waiter = waiter.Next)
        {
            long needed = waiter.QueueWeight;
            for (int i = 0; i < windows.Length; i++)
            {
                long index = permits + needed - windows[i].Limit;
                if (index >= 1)
                {
                    at = Math.Max(at, TimestampOfPermit(ref cursors[i], index) + windows[i].Period);
                }
            }

            waiter.SimulatedAt = at;
            permits += waiter.PermitCount;
        }

        _simulatedHeadAt = _head!.SimulatedAt;
        _simulatedDrainedAt = at;
        _simulatedPermits = permits;
        _simulatedVersion = _queueVersion;
    }

    /// <summary>
    /// Moves the cursor forward to the log entry or queued request holding the permit numbered
    /// <paramref name="index"/> and returns its timestamp (for a queued request, its simulated one).
    /// </summary>
    private long TimestampOfPermit(ref TimelineCursor cursor, long index)
    {
        LogEntry[] log = _log;
        long mask = log.Length - 1;
        while (true)
        {
            long count;
            long timestamp;
            if (cursor.InQueue)
            {
                if (cursor.Waiter is not { } waiter)
                {
                    // Past the last queued request; callers never ask beyond the permits counted so far.
                    return long.MinValue;
                }

                count = waiter.PermitCount;
                timestamp = waiter.SimulatedAt;
            }
            else if (cursor.Sequence < _end)
            {
                ref LogEntry entry = ref log[cursor.Sequence & mask];
                count = entry.Count;
                timestamp = entry.Timestamp;
            }
            else
            {
                // Past the log: the queued requests follow.
                cursor.InQueue = true;
                cursor.Waiter = _head;
                continue;
            }

            if (cursor.Before + count >= index)
            {
                return timestamp;
            }

            cursor.Before += count;
            if (cursor.InQueue)
            {
                cursor.Waiter = cursor.Waiter!.Next;
            }
            else
            {
                cursor.Sequence++;
            }
        }
    }

    /// <summary>Appends a grant to the log and counts it in every window; returns its sequence number.</summary>
    private long Record(long now, int permitCount)
    {
        long start = _windows[_longest].Head;
        long mask = _log.Length - 1;
        _lastGrantAt = now;
        foreach (ref WindowState window in _windows.AsSpan())
        {
            window.Count += permitCount;
        }

        if (_end > start)
        {
            ref LogEntry last = ref _log[(_end - 1) & mask];
            if (last.Timestamp >= now)
            {
                // Same timestamp (or a clock that stepped back): share the entry, keeping the log ordered.
                last.Count += permitCount;
                _lastGrantAt = last.Timestamp;
                return _end - 1;
            }
        }

        if (_end - start == _log.Length)
        {
            Grow(start);
            mask = _log.Length - 1;
        }

        _log[_end & mask] = new LogEntry(now, permitCount);
        return _end++;
    }

    /// <summary>Takes a handed-back grant out of the windows that still count it.</summary>
    private void Unrecord(long sequence, int permitCount)
    {
        if (sequence < _windows[_longest].Head || sequence >= _end)
        {
            return;
        }

        _log[sequence & (_log.Length - 1)].Count -= permitCount;
        _queueVersion++;
        foreach (ref WindowState window in _windows.AsSpan())
        {
            if (window.Head <= sequence)
            {
                window.Count -= permitCount;
            }
        }
    }

    private void Grow(long start)
    {
        LogEntry[] old = _log;
        var grown = new LogEntry[old.Length * 2];
        long oldMask = old.Length - 1;
        long newMask = grown.Length - 1;
        for (long sequence = start; sequence < _end; sequence++)
        {
            grown[sequence & newMask] = old[sequence & oldMask];
        }

        _log = grown;
    }

    private WindowState[] BuildWindows(SlidingLogWindow[] specs, long now, out int longest, out int minLimit)
    {
        var windows = new WindowState[specs.Length];
        long start = _windows is null ? _end : _windows[_longest].Head;
        long mask = _log.Length - 1;
        longest = 0;
        minLimit = int.MaxValue;
        for (int i = 0; i < specs.Length; i++)
        {
            long period = _clock.ToTimestampUnits(specs[i].Period);
            long head = start;
            while (head < _end && _log[head & mask].Timestamp <= now - period)
            {
                head++;
            }

            long count = 0;
            for (long sequence = head; sequence < _end; sequence++)
            {
                count += _log[sequence & mask].Count;
            }

            windows[i] = new WindowState { Period = period, Limit = specs[i].PermitLimit, Head = head, Count = count };
            minLimit = Math.Min(minLimit, specs[i].PermitLimit);
            if (period > windows[longest].Period)
            {
                longest = i;
            }
        }

        _simulatedCursors = new TimelineCursor[specs.Length];
        _queueVersion++;
        return windows;
    }

    private void Enqueue(LimiterWaiter waiter)
    {
        waiter.Previous = _tail;
        if (_tail is null)
        {
            _head = waiter;
        }
        else
        {
            _tail.Next = waiter;
        }

        _tail = waiter;
        _queuedPermits += waiter.QueueWeight;
        _queueVersion++;
    }

    private void Dequeue(LimiterWaiter waiter)
    {
        if (waiter.Previous is null)
        {
            _head = waiter.Next;
        }
        else
        {
            waiter.Previous.Next = waiter.Next;
        }

        if (waiter.Next is null)
        {
            _tail = waiter.Previous;
        }
        else
        {
            waiter.Next.Previous = waiter.Previous;
        }

        waiter.Next = null;
        waiter.Previous = null;
        _queuedPermits -= waiter.QueueWeight;
        _queueVersion++;
    }

    private void ThrowIfMoreThanLimit(int permitCount)
    {
        if (permitCount > _minLimit)
        {
            ThrowPermitCountTooLarge(permitCount, _minLimit);
        }
    }

    private static void ThrowPermitCountTooLarge(int permitCount, int limit) =>
        throw new ArgumentOutOfRangeException(nameof(permitCount), permitCount, $"The request exceeds the smallest window's permit limit ({limit}), so it could never be granted.");

    private static SlidingLogWindow[] ValidateWindows(SlidingLogWindow[] windows, string paramName)
    {
        if (windows.Length == 0)
        {
            throw new ArgumentException("At least one window is required.", paramName);
        }

        foreach (SlidingLogWindow window in windows)
        {
            if (!window.IsValid)
            {
                throw new ArgumentException("Every window must be created with the SlidingLogWindow constructor (a positive limit and period).", paramName);
            }
        }

        return windows;
    }

    /// <summary>A position in the permit timeline (the log, then the queued requests), for <see cref="SimulateQueue"/>.</summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Auto)]
    private struct TimelineCursor
    {
        /// <summary>The log entry under the cursor while it is in the log.</summary>
        internal long Sequence;

        /// <summary>Whether the cursor is past the log, among the queued requests.</summary>
        internal bool InQueue;

        /// <summary>The queued request under the cursor once it is past the log; <see langword="null"/> past the last.</summary>
        internal LimiterWaiter? Waiter;

        /// <summary>The permits before the element under the cursor.</summary>
        internal long Before;
    }

    private static SlidingLogRateLimiterOptions CreateOptions(int permitLimit, TimeSpan period, int queueLimit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(queueLimit);
        return new SlidingLogRateLimiterOptions
        {
            Windows = { new SlidingLogWindow(permitLimit, period) },
            QueueLimit = queueLimit,
        };
    }
}
