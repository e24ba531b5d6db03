namespace AsyncUtils;

/// <summary>
/// Something waiting in <see cref="CurrentContextExecutor"/>'s FIFO queue for a concurrency slot.
/// The queue is an intrusive doubly linked list (<see cref="Previous"/>/<see cref="Next"/>/<see cref="Queued"/>,
/// guarded by the executor's lock), so a waiter that gives up leaves it in O(1) at once.
/// </summary>
internal abstract class SlotWaiter
{
    internal SlotWaiter? Previous;
    internal SlotWaiter? Next;
    internal bool Queued;

    /// <summary>Hands the waiter a slot; called outside the executor's lock, after the waiter left the queue.</summary>
    /// <returns><see langword="true"/> if the waiter took the slot; <see langword="false"/> if the caller must hand it on.</returns>
    internal abstract bool Grant();

    /// <summary>The executor shut down with cancellation: the waiter never gets a slot.</summary>
    internal abstract void Reject();
}

/// <summary>A Map lane waiting for a slot.</summary>
internal sealed class LaneWaiter : SlotWaiter
{
    private readonly CurrentContextExecutor _executor;
    private readonly TaskCompletionSource _granted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal LaneWaiter(CurrentContextExecutor executor) => _executor = executor;

    internal Task Task => _granted.Task;

    // A cancelled lane leaves the queue under the executor's lock before it completes, so a
    // waiter that was dequeued for a grant can no longer be cancelled: the grant always lands.
    internal override bool Grant() => _granted.TrySetResult();

    internal override void Reject() => _granted.TrySetCanceled();

    /// <summary>The lane's token was cancelled: leave the queue now; if a grant got here first, keep it (the lane hands it back).</summary>
    internal void Cancel()
    {
        if (_executor.TryRemoveWaiter(this))
        {
            _granted.TrySetCanceled();
        }
    }
}

/// <summary>A submitted call, as the executor dispatches it.</summary>
internal interface ISubmittedCall
{
    /// <summary>Runs the call; on the executor's context.</summary>
    public void Run();
}

/// <summary>A submitted call: holds the function until it gets a slot, then runs it on the executor's context.</summary>
/// <typeparam name="TResult">The result type; <see cref="object"/> for calls without one.</typeparam>
internal sealed class SubmittedCall<TResult> : SlotWaiter, ISubmittedCall
{
    private static readonly Action<Task, object?> OnInnerCompleted = static (inner, state) => ((SubmittedCall<TResult>)state!).Complete(inner);

    private readonly CurrentContextExecutor _executor;
    private readonly object _function;
    private readonly bool _hasResult;
    private readonly TaskCompletionSource<TResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ExecutionContext? _executionContext;

    internal SubmittedCall(CurrentContextExecutor executor, object function, bool hasResult)
    {
        _executor = executor;
        _function = function;
        _hasResult = hasResult;
    }

    internal Task<TResult> Task => _completion.Task;

    /// <summary>Keeps the submitter's AsyncLocals for a call that has to wait for a slot.</summary>
    internal void CaptureExecutionContext() => _executionContext = ExecutionContext.Capture();

    internal override bool Grant()
    {
        _executor.Dispatch(this);
        return true;
    }

    internal override void Reject()
    {
        _completion.TrySetCanceled();
        _executor.FinishOutstanding();
    }

    /// <inheritdoc/>
    public void Run()
    {
        if (_executionContext is null)
        {
            RunCore();
        }
        else
        {
            ExecutionContext.Run(_executionContext, static state => ((SubmittedCall<TResult>)state!).RunCore(), this);
        }
    }

    private void RunCore()
    {
        CancellationToken token = _executor.ShutdownToken;
        Task? inner;
        try
        {
            inner = _hasResult ? ((Func<CancellationToken, Task<TResult>>)_function)(token) : ((Func<CancellationToken, Task>)_function)(token);
            inner ??= System.Threading.Tasks.Task.FromException(new InvalidOperationException("The function returned a null task."));
        }
        catch (Exception ex)
        {
            inner = ex is OperationCanceledException && token.IsCancellationRequested
                ? System.Threading.Tasks.Task.FromCanceled(token)
                : System.Threading.Tasks.Task.FromException(ex);
        }

        if (inner.IsCompleted)
        {
            Complete(inner);
        }
        else
        {
            inner.ContinueWith(OnInnerCompleted, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private void Complete(Task inner)
    {
        if (inner.IsCompletedSuccessfully)
        {
            _completion.TrySetResult(_hasResult && inner is Task<TResult> typed ? typed.Result : default!);
        }
        else if (inner.IsCanceled)
        {
            _completion.TrySetCanceled();
        }
        else
        {
            // Counted before the task completes, so whoever awaits it sees the count. A
            // cancellation is not a fault, whether it ended the task or was thrown synchronously.
            if (inner.Exception!.InnerException is not OperationCanceledException)
            {
                _executor.RecordFault();
            }

            _completion.TrySetException(inner.Exception.InnerExceptions);
        }

        _executor.ReleaseSlot();
        _executor.FinishOutstanding();
    }
}
