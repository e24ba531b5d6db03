using System.Threading.RateLimiting;
using System.Threading.Tasks.Sources;

namespace AsyncUtils;

/// <summary>
/// One queued <c>AcquireAsync</c> call on a <see cref="SlidingLogRateLimiter"/>: a node of the limiter's FIFO
/// list and the source of the <see cref="ValueTask{TResult}"/> its caller awaits. Used once.
/// </summary>
/// <remarks>
/// <see cref="State"/> moves from <see cref="Queued"/> to exactly one of <see cref="Granted"/>,
/// <see cref="Cancelled"/> or <see cref="Failed"/> under the limiter's lock. A granted waiter then
/// becomes <see cref="Consumed"/> when its caller reads the result, or <see cref="HandedBack"/>
/// when its token fires first; that last race is settled by a compare-exchange, so a grant is
/// either used or returned, never both. Cancellation surfaces as <see cref="TaskCanceledException"/>
/// carrying the caller's token, as in the BCL limiters.
/// </remarks>
internal sealed class LimiterWaiter : IValueTaskSource<RateLimitLease>
{
    internal const int Queued = 0;
    internal const int Granted = 1;
    internal const int Consumed = 2;
    internal const int Cancelled = 3;
    internal const int Failed = 4;
    internal const int HandedBack = 5;

    private static readonly Action<object?, CancellationToken> OnCancel =
        static (state, _) => { var w = (LimiterWaiter)state!; w.Owner.OnWaiterCancelled(w); };

    private ManualResetValueTaskSourceCore<RateLimitLease> _core;
    private CancellationTokenRegistration _registration;
    private int _state;

    internal LimiterWaiter(SlidingLogRateLimiter owner, int permitCount, CancellationToken cancellationToken)
    {
        Owner = owner;
        PermitCount = permitCount;
        CancellationToken = cancellationToken;
        _core.RunContinuationsAsynchronously = true;
    }

    internal SlidingLogRateLimiter Owner { get; }

    internal int PermitCount { get; }

    internal CancellationToken CancellationToken { get; }

    internal LimiterWaiter? Next { get; set; }

    internal LimiterWaiter? Previous { get; set; }

    /// <summary>
    /// Under the limiter's lock, scratch for the retry-after of a refusal behind the queue: the
    /// timestamp at which this waiter will be served if nothing changes.
    /// </summary>
    internal long SimulatedAt;

    /// <summary>
    /// The room this waiter takes in the queue: its permit count, and one for a zero-permit
    /// request (which waits for one permit to be free), so <c>QueueLimit</c> bounds every queue.
    /// </summary>
    internal int QueueWeight => Math.Max(PermitCount, 1);

    /// <summary>
    /// Whether the grant can still be handed back after it is made (the token can fire), so it
    /// counts as a successful lease only when the caller reads it.
    /// </summary>
    internal bool CountsOnRead => CancellationToken.CanBeCanceled;

    /// <summary>The log sequence number of the grant, for handing it back; -1 for a zero-permit grant.</summary>
    internal long GrantSequence { get; private set; } = -1;

    internal int State => Volatile.Read(ref _state);

    internal ValueTask<RateLimitLease> AsValueTask() => new(this, _core.Version);

    internal void Register()
    {
        if (CancellationToken.CanBeCanceled)
        {
            _registration = CancellationToken.UnsafeRegister(OnCancel, this);
        }
    }

    /// <summary>Under the limiter's lock: completes a queued waiter with a granted lease.</summary>
    internal void Grant(RateLimitLease lease, long sequence)
    {
        GrantSequence = sequence;
        Volatile.Write(ref _state, Granted);
        _core.SetResult(lease);
    }

    /// <summary>Under the limiter's lock: completes a queued waiter with a failed lease.</summary>
    internal void Fail(RateLimitLease lease)
    {
        Volatile.Write(ref _state, Failed);
        _core.SetResult(lease);
    }

    /// <summary>Under the limiter's lock: completes a queued waiter as cancelled.</summary>
    internal void Cancel()
    {
        Volatile.Write(ref _state, Cancelled);
        _core.SetException(new TaskCanceledException(null, null, CancellationToken));
    }

    /// <summary>Takes a granted waiter's grant back; false if its caller already has it.</summary>
    internal bool TryHandBack() => Interlocked.CompareExchange(ref _state, HandedBack, Granted) == Granted;

    /// <summary>When the request was queued, on the limiter's clock, for the wait-duration metric.</summary>
    internal long EnqueuedAt { get; init; }

    /// <inheritdoc/>
    public RateLimitLease GetResult(short token)
    {
        RateLimitLease lease;
        try
        {
            lease = _core.GetResult(token);
        }
        catch (OperationCanceledException)
        {
            Owner.RecordWait(EnqueuedAt, "canceled");
            throw;
        }

        if (lease.IsAcquired)
        {
            int previous = Interlocked.CompareExchange(ref _state, Consumed, Granted);
            if (previous == HandedBack)
            {
                // The token fired between the grant and this read: the permits went back to the limiter.
                Owner.RecordWait(EnqueuedAt, "canceled");
                throw new TaskCanceledException(null, null, CancellationToken);
            }

            if (previous == Granted && CountsOnRead)
            {
                // This read made the grant final: only now is it a successful lease.
                Owner.OnGrantDelivered();
            }
        }

        _registration.Unregister();
        Owner.RecordWait(EnqueuedAt, lease.IsAcquired ? "granted" : "rejected");
        return lease;
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
