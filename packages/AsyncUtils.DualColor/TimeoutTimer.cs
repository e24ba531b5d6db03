namespace AsyncUtils;

/// <summary>
/// Times out one blocking wait on a clock other than <see cref="TimeProvider.System"/> (whose
/// timeouts the wait handles itself): when it fires, it removes the waiter, if still queued, as
/// timed out and wakes it. Disposal makes a late firing harmless to the waiter's next use.
/// </summary>
internal sealed class TimeoutTimer<TValue> : IDisposable
{
    private readonly WaiterList<TValue> _list;
    private readonly Waiter<TValue> _waiter;
    private readonly ITimer _timer;
    private bool _done; // owned by the queue's lock
    private bool _fired; // owned by the queue's lock

    internal TimeoutTimer(WaiterList<TValue> list, Waiter<TValue> waiter, TimeProvider time, TimeSpan timeout)
    {
        _list = list;
        _waiter = waiter;
        _timer = time.CreateTimer(static state => ((TimeoutTimer<TValue>)state!).Fire(), this, timeout, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Whether the timeout has passed (read under the queue's lock): a waiter not queued yet then never queues.</summary>
    internal bool FiredLocked => _fired;

    public void Dispose()
    {
        lock (_list.Sync)
        {
            _done = true;
        }

        _timer.Dispose();
    }

    private void Fire()
    {
        bool removed;
        lock (_list.Sync)
        {
            _fired = true;
            removed = !_done && _list.TryRemoveLocked(_waiter, WaitStatus.TimedOut);
        }

        if (removed)
        {
            _waiter.Signal();
        }
    }
}
