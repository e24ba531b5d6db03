using System.Threading.Tasks.Sources;

namespace AsyncUtils;

/// <summary>
/// An awaiting putter or taker: a pooled <see cref="IValueTaskSource{TResult}"/> whose
/// continuations always run asynchronously, never inline on the thread that completes it.
/// </summary>
/// <remarks>
/// Life cycle: rented and queued under the lock; cancellation registered after the lock is
/// released; completed (granted, completed, or cancelled) by whoever removes it from its list;
/// recycled by <see cref="GetResult(short)"/>, which first disposes the cancellation registration,
/// waiting for a cancellation callback that may still be running, so a late callback can never
/// touch the waiter's next use.
/// </remarks>
internal sealed class AsyncWaiter<TValue> : Waiter<TValue>, IValueTaskSource<TValue>, IValueTaskSource
{
    private readonly WaiterList<TValue> _owner;
    private ManualResetValueTaskSourceCore<TValue> _core;
    private CancellationTokenRegistration _registration;
    private bool _hasContinuation;

    internal AsyncWaiter(WaiterList<TValue> owner)
    {
        _owner = owner;
        _core.RunContinuationsAsynchronously = true;
    }

    internal AsyncWaiter<TValue>? PoolNext { get; set; }

    internal short Version => _core.Version;

    /// <summary>Whether this wait is timed for the metrics (a listener was subscribed when it began).</summary>
    internal bool Timed { get; set; }

    /// <summary>When this timed wait began, on the queue's clock.</summary>
    internal long WaitStart { get; set; }

    /// <summary>Registers for cancellation; called after the waiter is queued and the lock released.</summary>
    internal void RegisterCancellation(CancellationToken cancellationToken)
    {
        if (cancellationToken.CanBeCanceled)
        {
            _registration = cancellationToken.UnsafeRegister(
                static (state, token) => ((AsyncWaiter<TValue>)state!).OnCanceled(token), this);
        }
    }

    internal override void Signal()
    {
        Exception? error = Error;
        if (error is null)
        {
            _core.SetResult(Value);
        }
        else
        {
            _core.SetException(error);
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        // A second continuation is misuse of the ValueTask. Refuse it before the core sees it: the
        // core would first overwrite (or fail to cast) the context it captured for the first one,
        // throwing InvalidCastException and losing the first awaiter's context. A stale token is
        // the core's to refuse, and must not mark the waiter's current use.
        if (token == _core.Version)
        {
            if (_hasContinuation)
            {
                throw new InvalidOperationException("The ValueTask is already being awaited; a ValueTask may be awaited only once.");
            }

            _hasContinuation = true;
        }

        _core.OnCompleted(continuation, state, token, flags);
    }

    public TValue GetResult(short token)
    {
        // A wrong token or a result read before completion is misuse of the ValueTask: refuse it
        // without recycling a waiter that is still in use.
        if (_core.GetStatus(token) == ValueTaskSourceStatus.Pending)
        {
            throw new InvalidOperationException("The operation has not completed yet.");
        }

        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            if (Timed && _owner.Timing is { } timing)
            {
                DualColorMetrics.RecordWait(timing, WaitStart, Status);
            }

            Recycle();
        }
    }

    void IValueTaskSource.GetResult(short token) => GetResult(token);

    private void OnCanceled(CancellationToken token)
    {
        if (_owner.TryRemove(this, WaitStatus.Canceled))
        {
            Error = new OperationCanceledException(token);
            Signal();
        }
    }

    private void Recycle()
    {
        _registration.Dispose();
        _registration = default;
        _core.Reset();
        _hasContinuation = false;
        Timed = false;
        Value = default!;
        Error = null;
        Status = WaitStatus.Waiting;
        _owner.Return(this);
    }
}
