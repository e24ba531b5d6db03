using System.Threading.Tasks.Sources;

namespace AsyncUtils;

/// <summary>
/// One caller waiting to enter a <see cref="Lockout"/>: a node of its FIFO list and the source of
/// the <see cref="ValueTask"/> the caller awaits. Used once.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="State"/> moves from <see cref="Queued"/> to <see cref="Released"/> or
/// <see cref="Cancelled"/> under the lockout's lock; the completion itself may happen after the
/// lock is released (the FIFO release chain completes waiters outside it, one at a time).
/// </para>
/// <para>
/// A FIFO waiter schedules its caller's continuation itself. The release chain completes it with
/// <see cref="CompleteInChain"/>: a continuation that captured no context runs on the chain's
/// thread before the next waiter is let in; one that must run on the caller's
/// <see cref="SynchronizationContext"/> or <see cref="TaskScheduler"/> is sent there together with
/// the rest of the chain, which resumes on the thread pool after it. Either way the next waiter is
/// let in only after the continuation has run up to its first <c>await</c>.
/// </para>
/// </remarks>
internal sealed class LockoutWaiter : IValueTaskSource
{
    internal const int Queued = 0;
    internal const int Released = 1;
    internal const int Cancelled = 2;

    /// <summary>Hand-off states of a FIFO waiter completed by the release chain.</summary>
    private const int NoHandOff = 0;
    private const int HandOffArmed = 1;
    private const int HandedOff = 2;
    private const int HandOffDisarmed = 3;

    private static readonly Action<object?, CancellationToken> OnCancel =
        static (state, _) => { var w = (LockoutWaiter)state!; w.Owner.OnWaiterCancelled(w); };

    private static readonly Action<object?> RunContinuation = static state => ((LockoutWaiter)state!).ScheduleContinuation();
    private static readonly Action<object?> InvokeAction = static state => ((LockoutWaiter)state!).InvokeContinuation();
    private static readonly Action<object?> InvokeAndResumeAction = static state => ((LockoutWaiter)state!).InvokeAndResumeChain();
    private static readonly SendOrPostCallback InvokeCallback = static state => ((LockoutWaiter)state!).InvokeContinuation();
    private static readonly SendOrPostCallback InvokeAndResumeCallback = static state => ((LockoutWaiter)state!).InvokeAndResumeChain();
    private static readonly ContextCallback RunInContext = static state => { var w = (LockoutWaiter)state!; w._continuation!(w._continuationState); };

    private readonly bool _fifo;
    private ManualResetValueTaskSourceCore<bool> _core;
    private CancellationTokenRegistration _registration;

    // FIFO only: the caller's continuation and where it must run.
    private Action<object?>? _continuation;
    private object? _continuationState;
    private object? _schedulingContext;
    private ExecutionContext? _executionContext;
    private int _handOff;

    internal LockoutWaiter(Lockout owner, bool fifo, CancellationToken cancellationToken)
    {
        Owner = owner;
        CancellationToken = cancellationToken;
        _fifo = fifo;

        // FIFO: our own scheduler (ScheduleContinuation) is invoked on the releasing thread, outside
        // every lock, so that the next waiter is let in only after the continuation; otherwise
        // continuations go to the pool.
        _core.RunContinuationsAsynchronously = !fifo;
    }

    internal Lockout Owner { get; }

    internal CancellationToken CancellationToken { get; }

    internal LockoutWaiter? Next { get; set; }

    internal LockoutWaiter? Previous { get; set; }

    /// <summary>Queued, Released or Cancelled; written under the lockout's lock.</summary>
    internal int State { get; set; }

    internal ValueTask AsValueTask() => new(this, _core.Version);

    /// <summary>Registers on the token, to be called outside the lockout's lock; see <see cref="Registration"/>.</summary>
    internal CancellationTokenRegistration RegisterCancellation() => CancellationToken.UnsafeRegister(OnCancel, this);

    /// <summary>
    /// The registration <see cref="Complete"/> removes. Set under the lockout's lock, and only while
    /// the waiter is still queued: a waiter let in before its registration was made has already
    /// run <see cref="Complete"/>, so the caller removes that registration itself.
    /// </summary>
    internal CancellationTokenRegistration Registration
    {
        set => _registration = value;
    }

    /// <summary>Lets a non-FIFO waiter in; its continuation goes to the thread pool.</summary>
    internal void Complete()
    {
        _registration.Unregister();
        _core.SetResult(true);
    }

    /// <summary>
    /// Lets a FIFO waiter in from the release chain, outside the lockout's lock. Its continuation
    /// runs here, or is sent where it must run together with the rest of the chain.
    /// </summary>
    /// <returns><see langword="true"/> when the chain was handed on with the continuation: the caller stops.</returns>
    internal bool CompleteInChain()
    {
        _registration.Unregister();
        Volatile.Write(ref _handOff, HandOffArmed);
        _core.SetResult(true);

        // Claimed by ScheduleContinuation (inline, or on a pool thread if the await raced with us).
        return Interlocked.CompareExchange(ref _handOff, HandOffDisarmed, HandOffArmed) == HandedOff;
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
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        if (!_fifo)
        {
            _core.OnCompleted(continuation, state, token, flags);
            return;
        }

        // Capture what the core would capture, and give it our scheduler instead (it runs inline
        // when the chain completes the waiter, or on the pool if the waiter had already been let in).
        if ((flags & ValueTaskSourceOnCompletedFlags.FlowExecutionContext) != 0)
        {
            _executionContext = ExecutionContext.Capture();
        }

        if ((flags & ValueTaskSourceOnCompletedFlags.UseSchedulingContext) != 0)
        {
            SynchronizationContext? context = SynchronizationContext.Current;
            if (context is not null && context.GetType() != typeof(SynchronizationContext))
            {
                _schedulingContext = context;
            }
            else if (TaskScheduler.Current != TaskScheduler.Default)
            {
                _schedulingContext = TaskScheduler.Current;
            }
        }

        _continuation = continuation;
        _continuationState = state;
        _core.OnCompleted(RunContinuation, this, token, ValueTaskSourceOnCompletedFlags.None);
    }

    /// <summary>
    /// FIFO: runs the caller's continuation here if this thread is where it must run; otherwise
    /// sends it there, taking the rest of the release chain along when the chain is waiting on it.
    /// </summary>
    private void ScheduleContinuation()
    {
        // A continuation that captured nothing runs on whatever thread completes it, as the core
        // would run it.
        object? target = _schedulingContext;
        if (target is null || ReferenceEquals(target, SynchronizationContext.Current))
        {
            InvokeContinuation();
            return;
        }

        bool resumeChain = Interlocked.CompareExchange(ref _handOff, HandedOff, HandOffArmed) == HandOffArmed;
        switch (target)
        {
            case SynchronizationContext context:
                context.Post(resumeChain ? InvokeAndResumeCallback : InvokeCallback, this);
                break;
            case TaskScheduler scheduler:
                _ = Task.Factory.StartNew(resumeChain ? InvokeAndResumeAction : InvokeAction, this, CancellationToken.None, TaskCreationOptions.DenyChildAttach, scheduler);
                break;
            default:
                ThreadPool.UnsafeQueueUserWorkItem(resumeChain ? InvokeAndResumeAction : InvokeAction, this, preferLocal: false);
                break;
        }
    }

    private void InvokeContinuation()
    {
        if (_executionContext is null)
        {
            _continuation!(_continuationState);
        }
        else
        {
            ExecutionContext.Run(_executionContext, RunInContext, this);
        }
    }

    /// <summary>
    /// Runs the continuation where it must run, then hands the release chain back to the thread
    /// pool: the context's thread (a UI thread, say) runs only its own caller's code.
    /// </summary>
    private void InvokeAndResumeChain()
    {
        try
        {
            InvokeContinuation();
        }
        finally
        {
            Owner.ResumeReleaseChainOnPool();
        }
    }
}
