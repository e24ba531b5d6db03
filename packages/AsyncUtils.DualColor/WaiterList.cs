namespace AsyncUtils;

/// <summary>
/// One side's waiters, blocking and async together, in the order they began waiting (an
/// intrusive doubly linked list, so a cancelled or timed-out waiter leaves in O(1)). Also pools
/// the side's async waiters. Everything but <see cref="TryRemove"/> and <see cref="Return"/> runs
/// under the queue's lock.
/// </summary>
internal sealed class WaiterList<TValue>
{
    private const int MaxPooled = 32;

    private readonly SyncLock _sync;
    private Waiter<TValue>? _head;
    private Waiter<TValue>? _tail;
    private int _count;

    // A Treiber stack of idle async waiters: pushed from any thread, popped only under the lock
    // (one popper at a time, so no ABA), capped at about MaxPooled.
    private AsyncWaiter<TValue>? _pool;
    private int _pooled;

    internal WaiterList(SyncLock sync)
    {
        _sync = sync;
    }

    internal int Count => _count;

    /// <summary>How this list's waits are recorded in <c>asyncutils.queue.wait.duration</c>; <see langword="null"/> for lists whose waits are not (wait-to-read/write).</summary>
    internal WaitTiming? Timing { get; init; }

    internal bool IsEmpty => _head is null;

    internal void EnqueueLocked(Waiter<TValue> waiter)
    {
        waiter.List = this;
        waiter.Prev = _tail;
        waiter.Next = null;
        if (_tail is null)
        {
            _head = waiter;
        }
        else
        {
            _tail.Next = waiter;
        }

        _tail = waiter;
        _count++;
    }

    /// <summary>Removes the oldest waiter and marks it granted; the caller fills its value and signals it after the lock.</summary>
    internal Waiter<TValue>? DequeueLocked()
    {
        Waiter<TValue>? waiter = _head;
        if (waiter is not null)
        {
            Unlink(waiter);
            waiter.Status = WaitStatus.Granted;
        }

        return waiter;
    }

    /// <summary>
    /// Removes every waiter and marks each with <paramref name="status"/>. Returns the oldest; the
    /// rest follow through <see cref="Waiter{TValue}.Next"/>, which the caller reads before
    /// signalling each one.
    /// </summary>
    internal Waiter<TValue>? DetachAllLocked(WaitStatus status)
    {
        Waiter<TValue>? first = _head;
        for (Waiter<TValue>? w = first; w is not null; w = w.Next)
        {
            w.List = null;
            w.Prev = null;
            w.Status = status;
        }

        _head = null;
        _tail = null;
        _count = 0;
        return first;
    }

    /// <summary>Takes the lock and removes the waiter if it is still queued here; false when someone else already did.</summary>
    internal bool TryRemove(Waiter<TValue> waiter, WaitStatus status)
    {
        lock (_sync)
        {
            return TryRemoveLocked(waiter, status);
        }
    }

    internal bool TryRemoveLocked(Waiter<TValue> waiter, WaitStatus status)
    {
        if (waiter.List != this)
        {
            return false;
        }

        Unlink(waiter);
        waiter.Status = status;
        return true;
    }

    internal SyncLock Sync => _sync;

    internal AsyncWaiter<TValue> RentLocked()
    {
        AsyncWaiter<TValue>? head;
        while ((head = Volatile.Read(ref _pool)) is not null)
        {
            if (Interlocked.CompareExchange(ref _pool, head.PoolNext, head) == head)
            {
                head.PoolNext = null;
                Interlocked.Decrement(ref _pooled);
                return head;
            }
        }

        return new AsyncWaiter<TValue>(this);
    }

    internal void Return(AsyncWaiter<TValue> waiter)
    {
        if (Volatile.Read(ref _pooled) >= MaxPooled)
        {
            return;
        }

        Interlocked.Increment(ref _pooled);
        AsyncWaiter<TValue>? head;
        do
        {
            head = Volatile.Read(ref _pool);
            waiter.PoolNext = head;
        }
        while (Interlocked.CompareExchange(ref _pool, waiter, head) != head);
    }

    private void Unlink(Waiter<TValue> waiter)
    {
        if (waiter.Prev is null)
        {
            _head = waiter.Next;
        }
        else
        {
            waiter.Prev.Next = waiter.Next;
        }

        if (waiter.Next is null)
        {
            _tail = waiter.Prev;
        }
        else
        {
            waiter.Next.Prev = waiter.Prev;
        }

        waiter.Prev = null;
        waiter.Next = null;
        waiter.List = null;
        _count--;
    }
}
