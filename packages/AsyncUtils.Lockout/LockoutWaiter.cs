using System.Threading.Tasks.Sources;

namespace AsyncUtils.Lockout;

/// <summary>
/// One caller waiting to enter a <see cref="Lockout"/>: a node of its FIFO list and the source of
/// the <see cref="ValueTask"/> the caller awaits. Used once.
/// </summary>
/// <remarks>
/// <see cref="State"/> moves from <see cref="Queued"/> to <see cref="Released"/> or
/// <see cref="Cancelled"/> under the lockout's lock; the completion itself may happen after the
/// lock is released (the FIFO release chain completes waiters outside it, one at a time).
/// </remarks>
internal sealed class LockoutWaiter : IValueTaskSource
{
    internal const int Queued = 0;
    internal const int Released = 1;
    internal const int Cancelled = 2;

    private static readonly Action<object?, CancellationToken> OnCancel =
        static (state, _) => { var w = (LockoutWaiter)state!; w.Owner.OnWaiterCancelled(w); };

    private ManualResetValueTaskSourceCore<bool> _core;
    private CancellationTokenRegistration _registration;

    internal LockoutWaiter(Lockout owner, bool runContinuationInline, CancellationToken cancellationToken)
    {
        Owner = owner;
        CancellationToken = cancellationToken;

        // FIFO release runs each waiter's continuation on the releasing thread, outside every lock,
        // so that the next waiter is let in only after it; otherwise continuations go to the pool.
        _core.RunContinuationsAsynchronously = !runContinuationInline;
    }

    internal Lockout Owner { get; }

    internal CancellationToken CancellationToken { get; }

    internal LockoutWaiter? Next { get; set; }

    internal LockoutWaiter? Previous { get; set; }

    /// <summary>Queued, Released or Cancelled; written under the lockout's lock.</summary>
    internal int State { get; set; }

    internal ValueTask AsValueTask() => new(this, _core.Version);

    internal void Register()
    {
        if (CancellationToken.CanBeCanceled)
        {
            _registration = CancellationToken.UnsafeRegister(OnCancel, this);
        }
    }

    /// <summary>Lets the waiter in. For a FIFO waiter, call outside the lockout's lock: its continuation may run here.</summary>
    internal void Complete()
    {
        _registration.Unregister();
        _core.SetResult(true);
    }

    /// <summary>Completes a cancelled waiter; its continuation always runs on the thread pool.</summary>
    internal void CompleteCancelled()
    {
        _core.RunContinuationsAsynchronously = true;
        _core.SetException(new OperationCanceledException(CancellationToken));
    }

    /// <inheritdoc/>
    public void GetResult(short token) => _core.GetResult(token);

    /// <inheritdoc/>
    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    /// <inheritdoc/>
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
