using System.Net.Http.Headers;
#if NET9_0_OR_GREATER
using LockType = System.Threading.Lock;
#else
using LockType = System.Object;
#endif

namespace AsyncUtils;

/// <summary>
/// Locks a resource out for everyone for a while: after <see cref="LockFor"/> nobody gets past
/// <see cref="EnterAsync()"/> until the lockout ends. Typical use: a response says "429, retry
/// after 30 s", and every caller of that API should wait, not only the one that got the 429.
/// </summary>
/// <remarks>
/// <para>
/// <b>Only ever later.</b> Several lockouts combine to the latest end; a shorter lockout never
/// shortens a longer one. Entering never disturbs callers already past the gate: a lockout only
/// holds back those who enter after it began. Leaving needs no call.
/// </para>
/// <para>
/// <b>Waking.</b> Waiters are released by one timer set for the end of the lockout (rounded up to
/// the timer's millisecond resolution) and re-armed when the lockout is extended; nothing polls.
/// In the default mode every waiter is released at once and continues on the thread pool. With
/// <see cref="LockoutOptions.Fifo"/>, waiters are let in one after another in exactly their
/// arrival order: each waiter's continuation runs, up to its first <c>await</c>, before the next
/// waiter is released, and callers arriving meanwhile queue behind them. If a lockout begins while
/// waiters are being released, the rest wait for it to end. A continuation with nothing to return
/// to runs on the releasing thread; one that returns to a <see cref="SynchronizationContext"/> (a
/// UI thread) or a <see cref="TaskScheduler"/> is posted there, and the next waiter is released
/// only after it has run. One thread releases at most 32 waiters in a row, then the release moves
/// to the thread pool. Release never depends on anyone leaving, so a waiter can never be stranded
/// when nobody is inside (the FIFO lockout of the Python library async-utils could strand its
/// first waiter that way).
/// </para>
/// <para>
/// <b>Cancellation.</b> A token cancels only the wait: a waiter whose token fires leaves the queue
/// and throws <see cref="OperationCanceledException"/>. Entering takes nothing, so an unlocked
/// lockout lets a caller in even if its token is already cancelled, and there is nothing to hand
/// back after a release.
/// </para>
/// <para>
/// <b>Cost.</b> Entering an unlocked lockout is one volatile read: it completes synchronously and
/// allocates nothing. A caller that has to wait allocates one object. Every member is thread-safe.
/// </para>
/// </remarks>
/// <example>
/// <code>
/// await lockout.EnterAsync(ct);
/// using HttpResponseMessage response = await http.SendAsync(request, ct);
/// if (response.StatusCode == HttpStatusCode.TooManyRequests)
/// {
///     lockout.LockForRetryAfter(response.Headers.RetryAfter, maxDuration: TimeSpan.FromMinutes(5));
/// }
/// </code>
/// </example>
public sealed class Lockout
{
    private const long Never = long.MaxValue;

    /// <summary>The FIFO waiters one thread lets in before the release chain moves to the thread pool.</summary>
    private const int MaxReleasesPerTurn = 32;

    private readonly LockType _lock = new();
    private readonly Clock _clock;
    private readonly bool _fifo;

    /// <summary>True while no lockout is pending and nobody waits: entering is then one read.</summary>
    private volatile bool _open = true;

    private long _until = long.MinValue;
    private LockoutWaiter? _head;
    private LockoutWaiter? _tail;
    private int _waitingCount;
    private long _waitsStarted;
    private bool _releasing;
    private ITimer? _timer;
    private long _timerDue = Never;

    /// <summary>Creates an unlocked lockout that releases all waiters at once, on the system clock.</summary>
    public Lockout()
        : this(null)
    {
    }

    /// <summary>Creates an unlocked lockout.</summary>
    /// <param name="options">FIFO mode and time provider; <see langword="null"/> for the defaults.</param>
    public Lockout(LockoutOptions? options)
    {
        _clock = new Clock(options?.TimeProvider ?? TimeProvider.System);
        _fifo = options?.Fifo ?? false;
        MetricsName = options?.Name;

        // Metrics read the state above when a listener collects; entering pays nothing for them.
        LockoutMetrics.Register(this);
    }

    /// <summary>Whether waiters are let in one at a time in arrival order (<see cref="LockoutOptions.Fifo"/>).</summary>
    public bool IsFifo => _fifo;

    /// <summary>Whether a lockout is in force now.</summary>
    public bool IsLocked => !_open && Volatile.Read(ref _until) > _clock.Now();

    /// <summary>When the lockout in force ends, or <see langword="null"/> when none is.</summary>
    public DateTimeOffset? LockedUntil
    {
        get
        {
            long now = _clock.Now();
            long until = Volatile.Read(ref _until);
            return until > now ? _clock.UtcNowPlus(_clock.ToTimeSpan(until - now)) : null;
        }
    }

    /// <summary>The callers waiting to enter.</summary>
    public int WaitingCount => Volatile.Read(ref _waitingCount);

    /// <summary>
    /// Locks everyone out from now until <paramref name="duration"/> has passed, unless a lockout
    /// that ends later is already in force. Zero does nothing.
    /// </summary>
    /// <param name="duration">How long; zero or more. Durations over a century (36,525 days) are treated as a century.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="duration"/> is negative (including <see cref="Timeout.InfiniteTimeSpan"/>).</exception>
    public void LockFor(TimeSpan duration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        if (duration == TimeSpan.Zero)
        {
            return;
        }

        lock (_lock)
        {
            long now = _clock.Now();
            Extend(Clock.After(now, _clock.ToTimestampUnits(duration)), now);
        }
    }

    /// <summary>
    /// Locks everyone out until <paramref name="until"/> (measured on the time provider's clock),
    /// unless a lockout that ends later is already in force. A time in the past does nothing.
    /// </summary>
    /// <param name="until">When the lockout ends.</param>
    public void LockUntil(DateTimeOffset until)
    {
        TimeSpan duration = until - _clock.Provider.GetUtcNow();
        if (duration > TimeSpan.Zero)
        {
            LockFor(duration);
        }
    }

    /// <summary>
    /// Locks everyone out for the delay in an HTTP <c>Retry-After</c> (or <c>X-RateLimit-Reset-After</c>)
    /// value, capped at <paramref name="maxDuration"/> so that an absurd value cannot lock a
    /// resource out for days. See <see cref="RetryAfterHeader.TryParse"/> for the accepted forms.
    /// </summary>
    /// <param name="retryAfter">The header value: delta-seconds or an HTTP date.</param>
    /// <param name="maxDuration">The longest lockout to apply; greater than zero.</param>
    /// <returns>The lockout applied from now; zero when the value is missing, malformed or in the past.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxDuration"/> is not positive.</exception>
    public TimeSpan LockForRetryAfter(string? retryAfter, TimeSpan maxDuration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(maxDuration, TimeSpan.Zero);
        return RetryAfterHeader.TryParse(retryAfter, _clock.Provider.GetUtcNow(), out TimeSpan delay)
            ? LockForCapped(delay, maxDuration)
            : TimeSpan.Zero;
    }

    /// <summary>
    /// Locks everyone out for the delay in a parsed <c>Retry-After</c> header (for example
    /// <c>response.Headers.RetryAfter</c>), capped at <paramref name="maxDuration"/>.
    /// </summary>
    /// <param name="retryAfter">The header, or <see langword="null"/> when the response had none.</param>
    /// <param name="maxDuration">The longest lockout to apply; greater than zero.</param>
    /// <returns>The lockout applied from now; zero when the header is missing or its date has passed.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxDuration"/> is not positive.</exception>
    public TimeSpan LockForRetryAfter(RetryConditionHeaderValue? retryAfter, TimeSpan maxDuration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(maxDuration, TimeSpan.Zero);
        TimeSpan delay = retryAfter switch
        {
            { Delta: TimeSpan delta } => delta,
            { Date: DateTimeOffset date } => date - _clock.Provider.GetUtcNow(),
            _ => TimeSpan.Zero,
        };
        return LockForCapped(delay, maxDuration);
    }

    /// <summary>Enters at once if no lockout is in force; otherwise waits until it ends.</summary>
    /// <returns>A task that completes on entry; synchronously, without allocating, when unlocked.</returns>
    public ValueTask EnterAsync() => _open ? default : EnterSlow(CancellationToken.None);

    /// <summary>Enters at once if no lockout is in force; otherwise waits until it ends.</summary>
    /// <param name="cancellationToken">Cancels the wait (not an entry into an unlocked lockout).</param>
    /// <returns>A task that completes on entry; synchronously, without allocating, when unlocked.</returns>
    /// <exception cref="OperationCanceledException">The token fired while waiting.</exception>
    public ValueTask EnterAsync(CancellationToken cancellationToken) => _open ? default : EnterSlow(cancellationToken);

    /// <summary>
    /// Enters if no lockout is in force, without waiting. It does not queue, so in FIFO mode it
    /// does not wait behind callers still being released after a lockout ended either.
    /// </summary>
    /// <returns><see langword="true"/> when no lockout is in force.</returns>
    public bool TryEnter() => _open || Volatile.Read(ref _until) <= _clock.Now();

    /// <summary>Enters if no lockout is in force; otherwise throws, saying when the lockout ends.</summary>
    /// <exception cref="LockoutActiveException">A lockout is in force; see its <see cref="LockoutActiveException.LockedUntil"/>.</exception>
    public void EnterOrThrow()
    {
        if (_open)
        {
            return;
        }

        long now = _clock.Now();
        long until = Volatile.Read(ref _until);
        if (until > now)
        {
            TimeSpan retryAfter = _clock.ToTimeSpan(until - now);
            DateTimeOffset end = _clock.UtcNowPlus(retryAfter);
            throw new LockoutActiveException($"The resource is locked out until {end:O} (for {retryAfter}).", end, retryAfter);
        }
    }

    /// <summary>The name given in the options, for the metrics' tag.</summary>
    internal string? MetricsName { get; }

    /// <summary>The calls to <see cref="EnterAsync()"/> that had to wait, since creation.</summary>
    internal long WaitsStarted => Volatile.Read(ref _waitsStarted);

    /// <summary>
    /// Hands a waiter the registration made on its token outside the lock, or removes it when the
    /// waiter was let in (or cancelled) meanwhile: a registration left on a long-lived token would
    /// stay there, holding the waiter, until the token's source is disposed.
    /// </summary>
    private void KeepRegistration(LockoutWaiter waiter, CancellationTokenRegistration registration)
    {
        lock (_lock)
        {
            if (waiter.State == LockoutWaiter.Queued)
            {
                waiter.Registration = registration;
                return;
            }
        }

        registration.Unregister();
    }

    /// <summary>Called by a waiter's cancellation registration.</summary>
    internal void OnWaiterCancelled(LockoutWaiter waiter)
    {
        lock (_lock)
        {
            if (waiter.State != LockoutWaiter.Queued)
            {
                return;
            }

            Dequeue(waiter);
            waiter.State = LockoutWaiter.Cancelled;
            waiter.CompleteCancelled();
            if (_head is null && !_releasing && _clock.Now() >= _until)
            {
                _open = true;
            }
        }
    }

    private TimeSpan LockForCapped(TimeSpan delay, TimeSpan maxDuration)
    {
        if (delay <= TimeSpan.Zero)
        {
            return TimeSpan.Zero;
        }

        TimeSpan applied = delay < maxDuration ? delay : maxDuration;
        LockFor(applied);
        return applied;
    }

    private ValueTask EnterSlow(CancellationToken cancellationToken)
    {
        LockoutWaiter waiter;
        bool startChain = false;
        LockoutWaiter? releasedTogether;
        lock (_lock)
        {
            long now = _clock.Now();
            bool ended = now >= _until;
            if (ended && !_fifo)
            {
                // The lockout is over but its timer has not fired yet: let everyone in now.
                releasedTogether = TakeAllLocked();
                _open = true;
                DisarmTimer();
                CompleteAll(releasedTogether);
                return default;
            }

            if (ended && _head is null && !_releasing)
            {
                _open = true;
                DisarmTimer();
                return default;
            }

            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled(cancellationToken);
            }

            waiter = new LockoutWaiter(this, _fifo, cancellationToken);
            Enqueue(waiter);
            Volatile.Write(ref _waitsStarted, _waitsStarted + 1);
            if (ended && !_releasing)
            {
                // FIFO, lockout over, waiters left and no release under way (the timer is late).
                _releasing = true;
                startChain = true;
            }
        }

        if (startChain)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static self => self.RunReleaseChain(), this, preferLocal: false);
        }

        if (cancellationToken.CanBeCanceled)
        {
            KeepRegistration(waiter, waiter.RegisterCancellation());
        }

        return waiter.AsValueTask();
    }

    private void OnTimer()
    {
        bool runChain = false;
        lock (_lock)
        {
            _timerDue = Never;
            long now = _clock.Now();
            if (now < _until)
            {
                ArmTimer(_until, now);
                return;
            }

            if (!_fifo)
            {
                LockoutWaiter? all = TakeAllLocked();
                _open = true;
                CompleteAll(all);
                return;
            }

            if (_releasing)
            {
                return;
            }

            if (_head is null)
            {
                _open = true;
                return;
            }

            _releasing = true;
            runChain = true;
        }

        if (runChain)
        {
            RunReleaseChain();
        }
    }

    /// <summary>Continues the FIFO release chain on the thread pool.</summary>
    internal void ResumeReleaseChainOnPool() =>
        ThreadPool.UnsafeQueueUserWorkItem(static self => self.RunReleaseChain(), this, preferLocal: false);

    /// <summary>
    /// FIFO release: lets waiters in one at a time, in arrival order, each completed outside the
    /// lock so that its continuation runs (up to its first <c>await</c>) before the next is let in:
    /// here, or where it must run (its synchronization context), in which case the chain goes
    /// with it and resumes on the thread pool afterwards. After <see cref="MaxReleasesPerTurn"/> waiters the
    /// chain moves to the thread pool, so callers that keep coming back cannot hold one thread
    /// for ever. Stops if a new lockout begins (the timer resumes it) or when nobody is left.
    /// </summary>
    private void RunReleaseChain()
    {
        int released = 0;
        while (true)
        {
            LockoutWaiter next;
            lock (_lock)
            {
                long now = _clock.Now();
                if (now < _until)
                {
                    _releasing = false;
                    ArmTimer(_until, now);
                    return;
                }

                if (_head is null)
                {
                    _releasing = false;
                    _open = true;
                    return;
                }

                if (released == MaxReleasesPerTurn)
                {
                    // _releasing stays set: this chain goes on on the pool.
                    break;
                }

                next = _head;
                Dequeue(next);
                next.State = LockoutWaiter.Released;
            }

            released++;
            bool handedOff;
            try
            {
                handedOff = next.CompleteInChain();
            }
            catch
            {
                // Only a custom awaiter's continuation (or a synchronization context's Post) can
                // throw here. Keep releasing the others on the thread pool (_releasing stays set for
                // that chain), then let the error surface.
                ResumeReleaseChainOnPool();
                throw;
            }

            if (handedOff)
            {
                return;
            }
        }

        ResumeReleaseChainOnPool();
    }

    // ---- Everything below runs under _lock. ----

    private void Extend(long end, long now)
    {
        if (end <= _until || end <= now)
        {
            return;
        }

        Volatile.Write(ref _until, end);
        _open = false;
        ArmTimer(end, now);
    }

    private void ArmTimer(long dueTimestamp, long now)
    {
        if (dueTimestamp == _timerDue)
        {
            return;
        }

        _timerDue = dueTimestamp;
        _timer ??= _clock.CreateTimer(static state => ((Lockout)state!).OnTimer(), this);
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

    /// <summary>Empties the queue, marking every waiter released; returns the first of the detached list.</summary>
    private LockoutWaiter? TakeAllLocked()
    {
        LockoutWaiter? first = _head;
        for (LockoutWaiter? w = first; w is not null; w = w.Next)
        {
            w.State = LockoutWaiter.Released;
        }

        _head = null;
        _tail = null;
        Volatile.Write(ref _waitingCount, 0);
        return first;
    }

    /// <summary>Completes a detached list of non-FIFO waiters; their continuations go to the thread pool.</summary>
    private static void CompleteAll(LockoutWaiter? first)
    {
        while (first is not null)
        {
            LockoutWaiter? next = first.Next;
            first.Next = null;
            first.Previous = null;
            first.Complete();
            first = next;
        }
    }

    private void Enqueue(LockoutWaiter waiter)
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
        Volatile.Write(ref _waitingCount, _waitingCount + 1);
    }

    private void Dequeue(LockoutWaiter waiter)
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
        Volatile.Write(ref _waitingCount, _waitingCount - 1);
    }
}
