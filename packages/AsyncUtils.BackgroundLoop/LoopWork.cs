namespace AsyncUtils;

/// <summary>What kind of delegate a <see cref="LoopWork{TResult}"/> holds.</summary>
internal enum LoopWorkKind : byte
{
    Action,
    Function,
    AsyncAction,
    AsyncFunction,
}

/// <summary>
/// One piece of work given to a <see cref="ThreadedLoop"/>, counted as outstanding until it
/// settles. Asynchronous work, which can outlive the loop, also sits in the loop's intrusive
/// registry (<see cref="Previous"/>/<see cref="Next"/>, guarded by the loop's lock) so that
/// shutdown can cancel what is left; synchronous work always runs before the loop stops.
/// </summary>
internal abstract class LoopWork
{
    /// <summary>Runs <see cref="Execute"/> on the loop thread; cached so queueing allocates no delegate.</summary>
    internal static readonly Action<object?> ExecuteCallback = static state => ((LoopWork)state!).Execute();

    internal LoopWork? Previous;
    internal LoopWork? Next;
    internal bool InRegistry;

    /// <summary>Counted in the loop's queue depth (a listener was subscribed when it was queued); uncounted when it starts.</summary>
    internal bool CountedInQueue;
    private int _settled;

    /// <summary>The first caller (completion or abandonment) wins; the other does nothing.</summary>
    internal bool TrySettle() => Interlocked.Exchange(ref _settled, 1) == 0;

    /// <summary>Runs the work; called once, on the loop thread. Never throws.</summary>
    internal abstract void Execute();

    /// <summary>The loop stopped before the work finished: its task ends as cancelled.</summary>
    internal abstract void Abandon();
}

/// <summary>Work whose outcome goes to a task (scheduled) or to the loop's fault event (posted).</summary>
/// <typeparam name="TResult">The result type; <see cref="object"/> for work without a result.</typeparam>
internal sealed class LoopWork<TResult> : LoopWork
{
    private readonly ThreadedLoop _loop;
    private readonly object _function;
    private readonly LoopWorkKind _kind;
    private readonly TaskCompletionSource<TResult>? _completion;
    private readonly CancellationToken _token;
    private readonly CancellationTokenSource? _linked;

    internal LoopWork(ThreadedLoop loop, object function, LoopWorkKind kind, bool posted, CancellationTokenSource? linked, CancellationToken token)
    {
        _loop = loop;
        _function = function;
        _kind = kind;
        _token = token;
        _linked = linked;
        if (!posted)
        {
            // Asynchronous continuations: the caller's code never runs on the loop thread (or
            // inside the loop's bookkeeping) just because the loop completed its task.
            _completion = new TaskCompletionSource<TResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>The task the scheduler hands back; only for scheduled (not posted) work.</summary>
    internal Task<TResult> Task => _completion!.Task;

    internal override void Execute()
    {
        if (CountedInQueue)
        {
            _loop.LeftQueue();
        }

        if (_token.IsCancellationRequested)
        {
            Canceled();
            return;
        }

        if (_loop.WorkContext is { } workContext)
        {
            // A context from ThreadedLoopOptions.SynchronizationContextFactory: current while the
            // function runs, so its awaits capture it.
            SynchronizationContext? previous = SynchronizationContext.Current;
            SynchronizationContext.SetSynchronizationContext(workContext);
            try
            {
                Run();
            }
            finally
            {
                SynchronizationContext.SetSynchronizationContext(previous);
            }
        }
        else
        {
            Run();
        }
    }

    private void Run()
    {
        try
        {
            switch (_kind)
            {
                case LoopWorkKind.Action:
                    ((Action<CancellationToken>)_function)(_token);
                    Succeeded(default!);
                    break;
                case LoopWorkKind.Function:
                    Succeeded(((Func<CancellationToken, TResult>)_function)(_token));
                    break;
                case LoopWorkKind.AsyncAction:
                    Await(((Func<CancellationToken, Task>)_function)(_token));
                    break;
                default:
                    Await(((Func<CancellationToken, Task<TResult>>)_function)(_token));
                    break;
            }
        }
        catch (Exception ex)
        {
            Failed(ex);
        }
    }

    internal override void Abandon()
    {
        _completion?.TrySetCanceled();
        _linked?.Dispose();
    }

    private void Await(Task? inner)
    {
        if (inner is null)
        {
            Failed(new InvalidOperationException("The function returned a null task."));
        }
        else if (inner.IsCompleted)
        {
            FromInner(inner);
        }
        else
        {
            // A synchronous continuation, not an await: it runs where the inner task completed,
            // which is the loop thread when the function's last step ran there (an await
            // continuation would be pushed off the loop's SynchronizationContext to the pool).
            inner.ContinueWith(
                static (completed, state) => ((LoopWork<TResult>)state!).FromInner(completed),
                this,
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
    }

    private void FromInner(Task inner)
    {
        if (inner.IsCompletedSuccessfully)
        {
            Succeeded(_kind == LoopWorkKind.AsyncFunction ? ((Task<TResult>)inner).Result : default!);
        }
        else if (inner.IsCanceled && _token.IsCancellationRequested)
        {
            Canceled();
        }
        else
        {
            // Faulted, or cancelled while the work's token was not (an HttpClient timeout, some
            // other token): a fault, as the same exception thrown synchronously would be.
            // Reading Exception marks the inner task observed.
            IReadOnlyCollection<Exception> faults = inner.IsCanceled ? [CancellationOf(inner)] : inner.Exception!.InnerExceptions;
            if (_completion is not null)
            {
                _completion.TrySetException(faults);
                Finish();
            }
            else if (_loop.IsLoopThread || !_loop.TryRunOnLoop(ReportPostedFaultsCallback, (this, faults)))
            {
                ReportPostedFaults(faults);
            }

            // Otherwise the report runs on the loop thread, where UnhandledException is raised;
            // the work counts as outstanding until then.
        }
    }

    /// <summary>The exception a cancelled task ends with: the function's own <see cref="OperationCanceledException"/> when it threw one.</summary>
    private static OperationCanceledException CancellationOf(Task task)
    {
        try
        {
            task.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException ex)
        {
            return ex;
        }

        return new TaskCanceledException(task);
    }

    private static readonly Action<object?> ReportPostedFaultsCallback = static state =>
    {
        (LoopWork<TResult> work, IReadOnlyCollection<Exception> faults) = ((LoopWork<TResult>, IReadOnlyCollection<Exception>))state!;
        work.ReportPostedFaults(faults);
    };

    private void ReportPostedFaults(IReadOnlyCollection<Exception> faults)
    {
        foreach (Exception fault in faults)
        {
            _loop.ReportFault(fault);
        }

        Finish();
    }

    private void Succeeded(TResult result)
    {
        _completion?.TrySetResult(result);
        Finish();
    }

    private void Canceled()
    {
        _completion?.TrySetCanceled(_token.IsCancellationRequested ? _token : default);
        Finish();
    }

    private void Failed(Exception ex)
    {
        // The same rule as for a cancelled task in FromInner: only while the work's token is cancelled.
        if (ex is OperationCanceledException && _token.IsCancellationRequested)
        {
            Canceled();
        }
        else if (_completion is not null)
        {
            _completion.TrySetException(ex);
            Finish();
        }
        else
        {
            _loop.ReportFault(ex);
            Finish();
        }
    }

    private void Finish()
    {
        _linked?.Dispose();
        _loop.Settle(this, mayBeAbandoned: _kind >= LoopWorkKind.AsyncAction);
    }
}
