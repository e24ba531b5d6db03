#if NET9_0_OR_GREATER
using LockType = System.Threading.Lock;
#else
using LockType = System.Object;
#endif

namespace AsyncUtils.PrioritySemaphore;

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
/// <b>Cancellation and timeouts.</b> A waiter whose token fires (or whose blocking wait times out)
/// while it is still queued leaves the queue and throws <see cref="OperationCanceledException"/>
/// (or returns <see langword="false"/>). If the token fires after the permit was handed to the
/// waiter but before the waiter has taken it (its continuation has not run yet), the permit is
/// handed back to the next waiter and the wait still throws: a permit is never leaked and never
/// granted twice. A wait whose token was already cancelled throws without taking a permit.
/// </para>
/// <para>
/// <b>Cost.</b> An uncontended wait is one compare-exchange: it completes synchronously and
/// allocates nothing, and <see cref="Release()"/> takes a short lock. A wait that has to queue
/// allocates one object; its continuation runs asynchronously, never inside the semaphore's lock.
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
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxCount);
        ArgumentOutOfRangeException.ThrowIfNegative(initialCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(initialCount, maxCount);
        _count = initialCount;
        MaxCount = maxCount;
    }

    /// <summary>The permits available now.</summary>
    public int CurrentCount => Volatile.Read(ref _count);

    /// <summary>The most permits the semaphore can hold.</summary>
    public int MaxCount { get; }

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

    /// <summary>Blocks the calling thread until a permit is held or the timeout passes, at the ambient priority.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> waits forever, zero only tries.</param>
    /// <returns><see langword="true"/> when the permit is held.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite) or too large.</exception>
    public bool Wait(TimeSpan timeout) => WaitCore(null, timeout, CancellationToken.None);

    /// <summary>Blocks the calling thread until a permit is held or the timeout passes, at the ambient priority.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> waits forever, zero only tries.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns><see langword="true"/> when the permit is held.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite) or too large.</exception>
    /// <exception cref="OperationCanceledException">The token fired before the permit was taken.</exception>
    public bool Wait(TimeSpan timeout, CancellationToken cancellationToken) =>
        WaitCore(null, timeout, cancellationToken);

    /// <summary>Blocks the calling thread until a permit is held or the timeout passes, at an explicit priority.</summary>
    /// <param name="priority">The priority; lower numbers are served first.</param>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> waits forever, zero only tries.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns><see langword="true"/> when the permit is held; <see langword="false"/> when the timeout passed first.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite) or too large.</exception>
    /// <exception cref="OperationCanceledException">The token fired before the permit was taken.</exception>
    public bool Wait(int priority, TimeSpan timeout, CancellationToken cancellationToken) =>
        WaitCore(priority, timeout, cancellationToken);

    /// <summary>Releases one permit: to the first waiter in (priority, arrival) order, or to the count when nobody waits.</summary>
    /// <returns>The count before the release.</returns>
    /// <exception cref="SemaphoreFullException">The count would exceed <see cref="MaxCount"/>; nothing changes.</exception>
    public int Release() => Release(1);

    /// <summary>Releases permits: to waiters in (priority, arrival) order first, the rest to the count.</summary>
    /// <param name="releaseCount">The permits to release; one or more.</param>
    /// <returns>The count before the release.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="releaseCount"/> is less than one.</exception>
    /// <exception cref="SemaphoreFullException">The count would exceed <see cref="MaxCount"/>; nothing changes.</exception>
    public int Release(int releaseCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(releaseCount);
        lock (_lock)
        {
            int previous = Volatile.Read(ref _count);
            int toWaiters = Math.Min(releaseCount, _waiters.Count);
            int toCount = releaseCount - toWaiters;

            // Concurrent takers can only lower the count, so this check cannot be outrun.
            if (toCount > MaxCount - previous)
            {
                throw new SemaphoreFullException($"Releasing {releaseCount} permit(s) would take the count above its maximum of {MaxCount}.");
            }

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

    private bool WaitCore(int? priority, TimeSpan timeout, CancellationToken cancellationToken)
    {
        long totalMs = (long)timeout.TotalMilliseconds;
        if (totalMs < -1 || totalMs > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The timeout must be Timeout.InfiniteTimeSpan or between zero and int.MaxValue milliseconds.");
        }

        cancellationToken.ThrowIfCancellationRequested();
        if (TryTake())
        {
            return true;
        }

        if (timeout == TimeSpan.Zero)
        {
            return false;
        }

        PriorityWaiter waiter = Enqueue(priority ?? PriorityContext.Current, blocking: true, cancellationToken);
        if (!waiter.WaitSignal(timeout))
        {
            lock (_lock)
            {
                if (waiter.State == PriorityWaiter.Queued)
                {
                    Remove(waiter);
                    waiter.MarkTimedOut();
                }
            }
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

    /// <summary>Queues a waiter; if a permit was released meanwhile, returns the waiter already granted instead.</summary>
    private PriorityWaiter Enqueue(int priority, bool blocking, CancellationToken cancellationToken)
    {
        PriorityWaiter waiter;
        lock (_lock)
        {
            // Releases happen under this lock, so a count still zero here stays zero until we queue.
            waiter = new PriorityWaiter(this, priority, _sequence++, blocking, cancellationToken);
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
