using System.Threading.Tasks.Sources;

namespace AsyncUtils;

/// <summary>
/// One queued wait on a <see cref="PrioritySemaphore"/>: a node of its priority heap and either the
/// source of the <see cref="ValueTask"/> an async caller awaits or the event a blocked thread waits
/// on. Used once.
/// </summary>
/// <remarks>
/// <see cref="State"/> moves from <see cref="Queued"/> to <see cref="Granted"/> or
/// <see cref="Cancelled"/> (or <see cref="TimedOut"/>) under the semaphore's lock. A granted waiter
/// then becomes <see cref="Consumed"/> when its caller takes the result, or <see cref="HandedBack"/>
/// when its token fires first; a compare-exchange settles that race, so the permit is either used
/// or returned, never both and never lost.
/// </remarks>
internal sealed class PriorityWaiter : IValueTaskSource, IValueTaskSource<PrioritySemaphoreReleaser>, IValueTaskSource<bool>
{
    internal const int Queued = 0;
    internal const int Granted = 1;
    internal const int Consumed = 2;
    internal const int Cancelled = 3;
    internal const int TimedOut = 4;
    internal const int HandedBack = 5;

    private static readonly Action<object?, CancellationToken> OnCancel =
        static (state, _) => { var w = (PriorityWaiter)state!; w.Owner.OnWaiterCancelled(w); };

    private static readonly TimerCallback OnTimeout =
        static state => { var w = (PriorityWaiter)state!; w.Owner.OnWaiterTimedOut(w); };

    /// <summary>For a blocking waiter, the monitor its thread sleeps on; null for an async waiter.</summary>
    private readonly object? _gate;
    private bool _signalled;
    private ManualResetValueTaskSourceCore<bool> _core;
    private CancellationTokenRegistration _registration;
    private ITimer? _timer;
    private int _state;
    private bool _measured;
    private long _enqueuedAt;

    internal PriorityWaiter(PrioritySemaphore owner, int priority, bool blocking, CancellationToken cancellationToken)
    {
        Owner = owner;
        Priority = priority;
        CancellationToken = cancellationToken;
        _core.RunContinuationsAsynchronously = true;
        if (blocking)
        {
            _gate = new object();
        }
    }

    internal PrioritySemaphore Owner { get; }

    internal int Priority { get; }

    /// <summary>The arrival number, set under the semaphore's lock when the waiter is queued.</summary>
    internal long Sequence { get; set; }

    internal CancellationToken CancellationToken { get; }

    /// <summary>The waiter's index in the heap while queued; -1 otherwise.</summary>
    internal int HeapIndex { get; set; } = -1;

    internal int State => Volatile.Read(ref _state);

    /// <summary>Whether this waiter is served before <paramref name="other"/>: lower priority first, then arrival order.</summary>
    internal bool IsBefore(PriorityWaiter other) =>
        Priority < other.Priority || (Priority == other.Priority && Sequence < other.Sequence);

    internal ValueTask AsValueTask() => new(this, _core.Version);

    internal ValueTask<PrioritySemaphoreReleaser> AsReleaserValueTask() => new(this, _core.Version);

    internal ValueTask<bool> AsBooleanValueTask() => new(this, _core.Version);

    /// <summary>
    /// Starts the timeout of a waiter about to be queued; called by the thread that queues it,
    /// before anyone can take its result. The timer does not capture the caller's execution context.
    /// </summary>
    internal void StartTimer(TimeProvider timeProvider, TimeSpan timeout)
    {
        if (ExecutionContext.IsFlowSuppressed())
        {
            _timer = timeProvider.CreateTimer(OnTimeout, this, timeout, Timeout.InfiniteTimeSpan);
            return;
        }

        using (ExecutionContext.SuppressFlow())
        {
            _timer = timeProvider.CreateTimer(OnTimeout, this, timeout, Timeout.InfiniteTimeSpan);
        }
    }

    internal void Register()
    {
        if (CancellationToken.CanBeCanceled)
        {
            _registration = CancellationToken.UnsafeRegister(OnCancel, this);
        }
    }

    /// <summary>Under the semaphore's lock: hands this waiter a permit.</summary>
    internal void Grant()
    {
        Volatile.Write(ref _state, Granted);
        if (_gate is null)
        {
            _core.SetResult(true);
        }
        else
        {
            Signal();
        }
    }

    /// <summary>Under the semaphore's lock: completes a queued waiter as cancelled.</summary>
    internal void Cancel()
    {
        Volatile.Write(ref _state, Cancelled);
        if (_gate is null)
        {
            _core.SetException(new OperationCanceledException(CancellationToken));
        }
        else
        {
            Signal();
        }
    }

    /// <summary>Under the semaphore's lock: the timeout passed while the waiter was still queued.</summary>
    internal void TimeOut()
    {
        Volatile.Write(ref _state, TimedOut);
        if (_gate is null)
        {
            _core.SetResult(false);
        }
        else
        {
            Signal();
        }
    }

    /// <summary>Takes a granted waiter's permit back; false if its caller already has it.</summary>
    internal bool TryHandBack() => Interlocked.CompareExchange(ref _state, HandedBack, Granted) == Granted;

    /// <summary>Blocks until granted, cancelled or the timeout passes; true when signalled.</summary>
    internal bool WaitSignal(TimeSpan timeout)
    {
        object gate = _gate!;
        long deadline = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        lock (gate)
        {
            while (!_signalled)
            {
                if (deadline == long.MaxValue)
                {
                    Monitor.Wait(gate);
                    continue;
                }

                long remaining = deadline - Environment.TickCount64;
                if (remaining <= 0)
                {
                    return false;
                }

                Monitor.Wait(gate, (int)remaining);
            }

            return true;
        }
    }

    private void Signal()
    {
        lock (_gate!)
        {
            _signalled = true;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Notes when the wait began, for the wait-duration metric (only while it is listened to).</summary>
    internal void StartMeasuring(long timestamp)
    {
        _enqueuedAt = timestamp;
        _measured = true;
    }

    /// <summary>
    /// Takes the permit of a granted waiter, or throws when it was cancelled or handed back.
    /// Returns false only for a waiter that is neither (a wait that timed out). A measured wait is
    /// recorded here, on the caller's thread, with its outcome.
    /// </summary>
    internal bool TryConsume()
    {
        int state = Interlocked.CompareExchange(ref _state, Consumed, Granted);
        _registration.Unregister();
        _timer?.Dispose();
        if (_measured)
        {
            Owner.RecordWait(_enqueuedAt, state switch
            {
                Granted => "granted",
                TimedOut => "timed_out",
                _ => "canceled",
            });
        }

        return state switch
        {
            Granted => true,
            Cancelled or HandedBack => throw new OperationCanceledException(CancellationToken),
            _ => false,
        };
    }

    void IValueTaskSource.GetResult(short token)
    {
        Complete(token);
        TryConsume();
    }

    PrioritySemaphoreReleaser IValueTaskSource<PrioritySemaphoreReleaser>.GetResult(short token)
    {
        Complete(token);
        TryConsume();
        return new PrioritySemaphoreReleaser(Owner);
    }

    bool IValueTaskSource<bool>.GetResult(short token)
    {
        Complete(token);
        return TryConsume();
    }

    /// <summary>Reads the outcome; a cancelled async waiter throws here (and its wait is recorded as cancelled).</summary>
    private void Complete(short token)
    {
        try
        {
            _core.GetResult(token);
        }
        catch (OperationCanceledException) when (_measured)
        {
            Owner.RecordWait(_enqueuedAt, "canceled");
            throw;
        }
    }

    /// <inheritdoc/>
    public ValueTaskSourceStatus GetStatus(short token)
    {
        ValueTaskSourceStatus status = _core.GetStatus(token);
        return status == ValueTaskSourceStatus.Succeeded && State == HandedBack ? ValueTaskSourceStatus.Canceled : status;
    }

    /// <inheritdoc/>
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
