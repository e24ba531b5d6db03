using System.Diagnostics.Metrics;
#if NET9_0_OR_GREATER
using LockType = System.Threading.Lock;
#else
using LockType = System.Object;
#endif

namespace AsyncUtils;

/// <summary>
/// A counting semaphore whose waiters are granted in priority order: the lowest priority number
/// first, ties in arrival order. The priority of a wait is the ambient
/// <see cref="PriorityContext.Current"/> unless one is passed explicitly.
/// </summary>
/// <remarks>
/// <para>
/// <b>Order and no barging.</b> A released permit goes straight to the first waiter in
/// (priority, arrival) order. A new caller takes a permit at once only when nobody is waiting, so
/// it never overtakes a queued waiter, whatever its priority; priority orders the queue, it does
/// not pre-empt anyone.
/// </para>
/// <para>
/// <b>Cancellation and timeouts.</b> A waiter whose token fires (or whose timeout passes) while it
/// is still queued leaves the queue and throws <see cref="OperationCanceledException"/> (or
/// returns <see langword="false"/>). Once granted, a wait returns <see langword="true"/> even if
/// its timeout passes before its continuation runs. If the token fires after the permit was handed to the
/// waiter but before the waiter has taken it (its continuation has not run yet), the permit is
/// handed back to the next waiter and the wait still throws: a permit is never leaked and never
/// granted twice. A wait whose token was already cancelled throws without taking a permit.
/// </para>
/// <para>
/// <b>Cost.</b> An uncontended wait is one compare-exchange: it completes synchronously and
/// allocates nothing, and <see cref="Release()"/> takes a short lock. A wait that has to queue
/// allocates one object (and a timer when it has a timeout); its continuation runs asynchronously, never inside the semaphore's lock.
/// Queue operations are O(log n) in the number of waiters.
/// </para>
/// <para>
/// <b>Thread safety.</b> Every member is thread-safe, across threads, synchronization contexts and
/// a mix of blocking and async waiters.
/// </para>
/// </remarks>
public sealed class PrioritySemaphore
{
    private readonly LockType _lock = new();
    private readonly WaiterHeap _waiters = new();
    private readonly TimeProvider _timeProvider;
    private int _count;
    private int _waitingCount;
    private long _sequence;

    /// <summary>Creates a semaphore with no upper bound on its count (other than <see cref="int.MaxValue"/>).</summary>
    /// <param name="initialCount">The permits available at first; zero or more.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="initialCount"/> is negative.</exception>
    public PrioritySemaphore(int initialCount)
        : this(initialCount, int.MaxValue)
    {
    }

    /// <summary>Creates a semaphore whose count may never exceed <paramref name="maxCount"/>.</summary>
    /// <param name="initialCount">The permits available at first; between zero and <paramref name="maxCount"/>.</param>
    /// <param name="maxCount">The most permits the semaphore can hold; a release beyond it throws <see cref="SemaphoreFullException"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">A count is out of range.</exception>
    public PrioritySemaphore(int initialCount, int maxCount)
        : this(initialCount, maxCount, TimeProvider.System)
    {
    }

    /// <summary>Creates a semaphore whose wait timeouts are measured by <paramref name="timeProvider"/>.</summary>
    /// <param name="initialCount">The permits available at first; between zero and <paramref name="maxCount"/>.</param>
    /// <param name="maxCount">The most permits the semaphore can hold; a release beyond it throws <see cref="SemaphoreFullException"/>.</param>
    /// <param name="timeProvider">
    /// Creates the timers of waits with a timeout (a <c>FakeTimeProvider</c> makes them testable).
    /// With <see cref="TimeProvider.System"/> a blocking wait needs no timer: it sleeps with the timeout.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">A count is out of range.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="timeProvider"/> is <see langword="null"/>.</exception>
    public PrioritySemaphore(int initialCount, int maxCount, TimeProvider timeProvider)
        : this(initialCount, maxCount, timeProvider, null)
    {
    }

    /// <summary>Creates a semaphore with a name for its metrics.</summary>
    /// <param name="initialCount">The permits available at first; between zero and <paramref name="maxCount"/>.</param>
    /// <param name="maxCount">The most permits the semaphore can hold; a release beyond it throws <see cref="SemaphoreFullException"/>.</param>
    /// <param name="timeProvider">Creates the timers of waits with a timeout, and times the waits for the metrics.</param>
    /// <param name="name">
    /// Added as the <c>asyncutils.semaphore.name</c> tag to the semaphore's metrics (meter
    /// <c>AsyncUtils.PrioritySemaphore</c>) so that several semaphores can be told apart;
    /// <see langword="null"/> adds no tag.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">A count is out of range.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="timeProvider"/> is <see langword="null"/>.</exception>
    public PrioritySemaphore(int initialCount, int maxCount, TimeProvider timeProvider, string? name)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxCount);
        ArgumentOutOfRangeException.ThrowIfNegative(initialCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(initialCount, maxCount);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _count = initialCount;
        MaxCount = maxCount;
        _timeProvider = timeProvider;
        Name = name;

        // Metrics read the counts above when a listener collects; an acquire pays nothing for them.
        PrioritySemaphoreMetrics.Register(this);
    }

    /// <summary>The permits available now.</summary>
    public int CurrentCount => Volatile.Read(ref _count);

    /// <summary>The most permits the semaphore can hold.</summary>
    public int MaxCount { get; }

    /// <summary>The name given to the constructor, the <c>asyncutils.semaphore.name</c> tag of its metrics; <see langword="null"/> if none.</summary>
    public string? Name { get; }

    /// <summary>The waiters now queued (blocking and async).</summary>
    public int WaitingCount => Volatile.Read(ref _waitingCount);

    /// <summary>Waits for a permit at the ambient priority (<see cref="PriorityContext.Current"/>).</summary>
    /// <returns>A task that completes when the permit is held; synchronously when one is free.</returns>
    public ValueTask WaitAsync() => WaitAsync(CancellationToken.None);

    /// <summary>Waits for a permit at the ambient priority (<see cref="PriorityContext.Current"/>).</summary>
    /// <param name="cancellationToken">Cancels the wait; see the class remarks for a token that fires after the grant.</param>
    /// <returns>A task that completes when the permit is held; synchronously when one is free.</returns>
    /// <exception cref="OperationCanceledException">The token fired before the permit was taken.</exception>
    public ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        return TryTake() ? default : Enqueue(PriorityContext.Current, blocking: false, cancellationToken).AsValueTask();
    }

    /// <summary>Waits for a permit at an explicit priority, ignoring the ambient one.</summary>
    /// <param name="priority">The priority; lower numbers are served first.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A task that completes when the permit is held; synchronously when one is free.</returns>
    /// <exception cref="OperationCanceledException">The token fired before the permit was taken.</exception>
    public ValueTask WaitAsync(int priority, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        return TryTake() ? default : Enqueue(priority, blocking: false, cancellationToken).AsValueTask();
    }

    /// <summary>Waits for a permit at the ambient priority, for at most <paramref name="timeout"/>.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> waits forever, zero only tries.</param>
    /// <returns><see langword="true"/> when the permit is held; <see langword="false"/> when the timeout passed first (nothing is held then).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite) or more than <see cref="int.MaxValue"/> milliseconds.</exception>
    public ValueTask<bool> WaitAsync(TimeSpan timeout) => WaitAsyncCore(PriorityContext.Current, timeout, CancellationToken.None);

    /// <summary>Waits for a permit at the ambient priority, for at most <paramref name="timeout"/>.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> waits forever, zero only tries.</param>
    /// <param name="cancellationToken">Cancels the wait; see the class remarks for a token that fires after the grant.</param>
    /// <returns><see langword="true"/> when the permit is held; <see langword="false"/> when the timeout passed first (nothing is held then).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite) or more than <see cref="int.MaxValue"/> milliseconds.</exception>
    /// <exception cref="OperationCanceledException">The token fired before the permit was taken.</exception>
    public ValueTask<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        WaitAsyncCore(PriorityContext.Current, timeout, cancellationToken);

    /// <summary>Waits for a permit at an explicit priority, for at most <paramref name="timeout"/>.</summary>
    /// <param name="priority">The priority; lower numbers are served first.</param>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> waits forever, zero only tries.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns><see langword="true"/> when the permit is held; <see langword="false"/> when the timeout passed first (nothing is held then).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite) or more than <see cref="int.MaxValue"/> milliseconds.</exception>
    /// <exception cref="OperationCanceledException">The token fired before the permit was taken.</exception>
    public ValueTask<bool> WaitAsync(int priority, TimeSpan timeout, CancellationToken cancellationToken) =>
        WaitAsyncCore(priority, timeout, cancellationToken);

    /// <summary>Waits for a permit at the ambient priority and returns a releaser for a <c>using</c> block.</summary>
    /// <returns>A releaser whose disposal releases the permit.</returns>
    public ValueTask<PrioritySemaphoreReleaser> AcquireAsync() => AcquireAsync(CancellationToken.None);

    /// <summary>Waits for a permit at the ambient priority and returns a releaser for a <c>using</c> block.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A releaser whose disposal releases the permit.</returns>
    /// <exception cref="OperationCanceledException">The token fired before the permit was taken.</exception>
    public ValueTask<PrioritySemaphoreReleaser> AcquireAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<PrioritySemaphoreReleaser>(cancellationToken);
        }

        return TryTake()
            ? new ValueTask<PrioritySemaphoreReleaser>(new PrioritySemaphoreReleaser(this))
            : Enqueue(PriorityContext.Current, blocking: false, cancellationToken).AsReleaserValueTask();
    }

    /// <summary>Waits for a permit at an explicit priority and returns a releaser for a <c>using</c> block.</summary>
    /// <param name="priority">The priority; lower numbers are served first.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>A releaser whose disposal releases the permit.</returns>
    /// <exception cref="OperationCanceledException">The token fired before the permit was taken.</exception>
    public ValueTask<PrioritySemaphoreReleaser> AcquireAsync(int priority, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<PrioritySemaphoreReleaser>(cancellationToken);
        }

        return TryTake()
            ? new ValueTask<PrioritySemaphoreReleaser>(new PrioritySemaphoreReleaser(this))
            : Enqueue(priority, blocking: false, cancellationToken).AsReleaserValueTask();
    }

    /// <summary>Blocks the calling thread until a permit is held, at the ambient priority.</summary>
    public void Wait() => WaitCore(null, Timeout.InfiniteTimeSpan, CancellationToken.None);

    /// <summary>Blocks the calling thread until a permit is held, at the ambient priority.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="OperationCanceledException">The token fired before the permit was taken.</exception>
    public void Wait(CancellationToken cancellationToken) => WaitCore(null, Timeout.InfiniteTimeSpan, cancellationToken);

    /// <summary>Blocks the calling thread until a permit is held or the timeout passes, at the ambient priority.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> waits forever, zero only tries.</param>
    /// <returns><see langword="true"/> when the permit is held.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite) or more than <see cref="int.MaxValue"/> milliseconds.</exception>
    public bool Wait(TimeSpan timeout) => WaitCore(null, timeout, CancellationToken.None);

    /// <summary>Blocks the calling thread until a permit is held or the timeout passes, at the ambient priority.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> waits forever, zero only tries.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns><see langword="true"/> when the permit is held.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite) or more than <see cref="int.MaxValue"/> milliseconds.</exception>
    /// <exception cref="OperationCanceledException">The token fired before the permit was taken.</exception>
    public bool Wait(TimeSpan timeout, CancellationToken cancellationToken) =>
        WaitCore(null, timeout, cancellationToken);

    /// <summary>Blocks the calling thread until a permit is held or the timeout passes, at an explicit priority.</summary>
    /// <param name="priority">The priority; lower numbers are served first.</param>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> waits forever, zero only tries.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns><see langword="true"/> when the permit is held; <see langword="false"/> when the timeout passed first.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite) or more than <see cref="int.MaxValue"/> milliseconds.</exception>
    /// <exception cref="OperationCanceledException">The token fired before the permit was taken.</exception>
    public bool Wait(int priority, TimeSpan timeout, CancellationToken cancellationToken) =>
        WaitCore(priority, timeout, cancellationToken);

    /// <summary>Releases one permit: to the first waiter in (priority, arrival) order, or to the count when nobody waits.</summary>
    /// <returns>The count before the release.</returns>
    /// <exception cref="SemaphoreFullException">The count would exceed <see cref="MaxCount"/>; nothing changes and nobody is granted.</exception>
    public int Release() => Release(1);

    /// <summary>Releases permits: to waiters in (priority, arrival) order first, the rest to the count.</summary>
    /// <param name="releaseCount">The permits to release; one or more.</param>
    /// <returns>The count before the release.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="releaseCount"/> is less than one.</exception>
    /// <exception cref="SemaphoreFullException">
    /// <see cref="CurrentCount"/> plus <paramref name="releaseCount"/> would exceed <see cref="MaxCount"/>,
    /// whether the permits would go to waiters or to the count (as with <see cref="SemaphoreSlim"/>);
    /// nothing changes and nobody is granted.
    /// </exception>
    public int Release(int releaseCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(releaseCount);
        lock (_lock)
        {
            int previous = Volatile.Read(ref _count);

            // As SemaphoreSlim: the permits released count against the maximum whether they go to
            // waiters or to the count, so an over-release is refused before anyone is granted.
            // Concurrent takers can only lower the count, so this check cannot be outrun.
            if (releaseCount > MaxCount - previous)
            {
                throw new SemaphoreFullException($"Releasing {releaseCount} permit(s) with {previous} free would exceed the maximum of {MaxCount}; nothing was released.");
            }

            int toWaiters = Math.Min(releaseCount, _waiters.Count);
            int toCount = releaseCount - toWaiters;

            for (int i = 0; i < toWaiters; i++)
            {
                GrantNext();
            }

            if (toCount > 0)
            {
                Interlocked.Add(ref _count, toCount);
            }

            return previous;
        }
    }

    /// <summary>Called by a waiter's cancellation registration.</summary>
    internal void OnWaiterCancelled(PriorityWaiter waiter)
    {
        lock (_lock)
        {
            if (waiter.State == PriorityWaiter.Queued)
            {
                Remove(waiter);
                waiter.Cancel();
            }
            else if (waiter.State == PriorityWaiter.Granted && waiter.TryHandBack())
            {
                // The waiter never took its permit: pass it on as a release would.
                if (_waiters.Count > 0)
                {
                    GrantNext();
                }
                else
                {
                    Interlocked.Increment(ref _count);
                }
            }
        }
    }

    /// <summary>Called by a waiter's timeout timer.</summary>
    /// <summary>
    /// Records how long a queued caller waited, on its own thread once it has the outcome, outside
    /// the lock. A listener that throws is ignored: it must not change the outcome.
    /// </summary>
    internal void RecordWait(long enqueuedAt, string result)
    {
        Histogram<double> histogram = PrioritySemaphoreMetrics.WaitDuration;
        if (!histogram.Enabled)
        {
            return;
        }

        try
        {
            double seconds = _timeProvider.GetElapsedTime(enqueuedAt).TotalSeconds;
            var resultTag = new KeyValuePair<string, object?>(PrioritySemaphoreMetrics.ResultTag, result);
            if (Name is null)
            {
                histogram.Record(seconds, resultTag);
            }
            else
            {
                histogram.Record(seconds, resultTag, new KeyValuePair<string, object?>(PrioritySemaphoreMetrics.NameTag, Name));
            }
        }
#pragma warning disable CA1031 // An observer must not break a wait.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    internal void OnWaiterTimedOut(PriorityWaiter waiter)
    {
        lock (_lock)
        {
            if (waiter.State == PriorityWaiter.Queued)
            {
                Remove(waiter);
                waiter.TimeOut();
            }
        }
    }

    /// <summary>
    /// Checks a timeout as <see cref="SemaphoreSlim"/> does (whole milliseconds, -1 is infinite) and
    /// returns its whole milliseconds.
    /// </summary>
    private static long CheckTimeout(TimeSpan timeout)
    {
        long totalMs = (long)timeout.TotalMilliseconds;
        if (totalMs < -1 || totalMs > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The timeout must be Timeout.InfiniteTimeSpan or between zero and int.MaxValue milliseconds.");
        }

        return totalMs;
    }

    private ValueTask<bool> WaitAsyncCore(int priority, TimeSpan timeout, CancellationToken cancellationToken)
    {
        long totalMs = CheckTimeout(timeout);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<bool>(cancellationToken);
        }

        if (TryTake())
        {
            return new ValueTask<bool>(true);
        }

        if (totalMs == 0)
        {
            return new ValueTask<bool>(false);
        }

        return Enqueue(priority, blocking: false, cancellationToken, totalMs > 0 ? timeout : null).AsBooleanValueTask();
    }

    private bool WaitCore(int? priority, TimeSpan timeout, CancellationToken cancellationToken)
    {
        long totalMs = CheckTimeout(timeout);
        cancellationToken.ThrowIfCancellationRequested();
        if (TryTake())
        {
            return true;
        }

        if (totalMs == 0)
        {
            return false;
        }

        // With the system clock the thread sleeps with the timeout: no timer, so a starved thread
        // pool cannot delay it. Another clock decides when the timeout has passed: its timer wakes
        // the thread.
        bool sleepWithTimeout = totalMs > 0 && ReferenceEquals(_timeProvider, TimeProvider.System);
        PriorityWaiter waiter = Enqueue(priority ?? PriorityContext.Current, blocking: true, cancellationToken, totalMs > 0 && !sleepWithTimeout ? timeout : null);
        if (!waiter.WaitSignal(sleepWithTimeout ? timeout : Timeout.InfiniteTimeSpan))
        {
            OnWaiterTimedOut(waiter);
        }

        return waiter.TryConsume();
    }

    /// <summary>Takes a permit if one is free. Free permits exist only while nobody waits, so this never barges.</summary>
    private bool TryTake()
    {
        int count = Volatile.Read(ref _count);
        while (count > 0)
        {
            int seen = Interlocked.CompareExchange(ref _count, count - 1, count);
            if (seen == count)
            {
                return true;
            }

            count = seen;
        }

        return false;
    }

    /// <summary>
    /// Queues a waiter; if a permit was released meanwhile, returns the waiter already granted instead.
    /// A timeout's timer starts before the waiter is queued (outside the lock: the time provider is
    /// not our code), so the wait never lasts longer than asked; if it fires first, the waiter is
    /// returned timed out without being queued.
    /// </summary>
    private PriorityWaiter Enqueue(int priority, bool blocking, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        var waiter = new PriorityWaiter(this, priority, blocking, cancellationToken);
        if (PrioritySemaphoreMetrics.WaitDuration.Enabled)
        {
            waiter.StartMeasuring(_timeProvider.GetTimestamp());
        }

        if (timeout is TimeSpan due)
        {
            waiter.StartTimer(_timeProvider, due);
        }

        lock (_lock)
        {
            if (waiter.State != PriorityWaiter.Queued)
            {
                return waiter;
            }

            // Releases happen under this lock, so a count still zero here stays zero until we queue.
            waiter.Sequence = _sequence++;
            if (TryTake())
            {
                waiter.Grant();
                return waiter;
            }

            _waiters.Push(waiter);
            Volatile.Write(ref _waitingCount, _waiters.Count);
        }

        waiter.Register();
        return waiter;
    }

    private void GrantNext()
    {
        PriorityWaiter next = _waiters.Pop();
        Volatile.Write(ref _waitingCount, _waiters.Count);
        next.Grant();
    }

    private void Remove(PriorityWaiter waiter)
    {
        _waiters.Remove(waiter);
        Volatile.Write(ref _waitingCount, _waiters.Count);
    }
}
