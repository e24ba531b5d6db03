using System.Threading.Tasks.Sources;

namespace AsyncUtils;

/// <summary>
/// One enumeration: the consumer side (<see cref="IAsyncEnumerator{T}"/>) and the source thread,
/// meeting under one monitor. The source thread produces only while <see cref="_demand"/> is
/// positive, so laziness and the prefetch bound are one rule:
/// <c>produced &lt;= consumer requests + prefetch</c>.
/// </summary>
/// <remarks>
/// The consumer's pending <c>MoveNextAsync</c> is a reusable <see cref="ManualResetValueTaskSourceCore{TResult}"/>
/// that runs continuations asynchronously, and it is always completed after the monitor is
/// released, so no consumer code runs on the source thread or inside the lock.
/// </remarks>
internal sealed class ThreadedEnumerator<T> : IAsyncEnumerator<T>, IValueTaskSource<bool>
{
    // Spins before the source thread blocks; with SpinWait's back-off this is some tens of
    // microseconds at most, and it yields to other threads rather than starving them.
    private const int SpinLimit = 30;

    private readonly object _gate = new();
    private readonly Func<ThreadedSourceContext, object, IEnumerable<T>> _factory;
    private readonly object _factoryState;
    private readonly bool _flowExecutionContext;
    private readonly int _wakeThreshold;
    private CancellationToken _cancelledBy;
    private readonly CancellationTokenSource _sourceCancellation = new();
    private readonly ThreadedSourceContext _context;
    private readonly CancellationTokenRegistration _consumerRegistration;
    private ManualResetValueTaskSourceCore<bool> _pending = new() { RunContinuationsAsynchronously = true };

    // Guarded by _gate.
    private Queue<T>? _buffer;
    private int _demand;
    private bool _started;
    private bool _producerSleeping;
    private bool _stopRequested;
    private bool _sourceEnded;
    private Exception? _sourceError;
    private bool _producerExited;
    private Exception? _cleanupError;
    private bool _consumerWaiting;
    private bool _consumerCancelled;
    private bool _consumerLeft;
    private bool _sourceCancelled;
    private bool _disposed;
    private TaskCompletionSource? _cleanupDone;

    // Consumer side only (one consumer at a time, as for any enumerator).
    private T _current = default!;
    private Queue<T>? _local;
    private int _uncredited;

    internal ThreadedEnumerator(
        Func<ThreadedSourceContext, object, IEnumerable<T>> factory,
        object factoryState,
        int prefetch,
        bool flowExecutionContext,
        CancellationToken cancellationToken)
    {
        _factory = factory;
        _factoryState = factoryState;
        _flowExecutionContext = flowExecutionContext;
        _demand = prefetch;

        // A sleeping source is woken once half its prefetch window is free (or at once when lazy),
        // so a fast consumer costs one wake-up per many items instead of one per item. A waiting
        // consumer always implies demand above the threshold.
        _wakeThreshold = Math.Max(1, (prefetch + 1) / 2);
        _context = new ThreadedSourceContext(_sourceCancellation.Token);
        if (cancellationToken.CanBeCanceled)
        {
            _consumerRegistration = cancellationToken.UnsafeRegister(
                static (state, token) => ((ThreadedEnumerator<T>)state!).OnConsumerCancelled(token), this);
        }
    }

    public T Current => _current;

    internal void SetConsumerException(Exception exception) => _context.SetConsumerException(exception);

    /// <summary>Whether a <c>MoveNextAsync</c> is waiting for the source.</summary>
    internal bool IsMoveNextPending
    {
        get
        {
            lock (_gate)
            {
                return _consumerWaiting;
            }
        }
    }

    public ValueTask<bool> MoveNextAsync()
    {
        // Fast path, no lock: items the consumer already took from the shared buffer in bulk.
        // Requests served here are credited to the source in batches (see CreditRequests), which
        // only ever makes the source see fewer requests than were made: never less lazy.
        if (_local is { Count: > 0 } local && !_disposed && !Volatile.Read(ref _consumerCancelled))
        {
            _current = local.Dequeue();
            if (++_uncredited >= _wakeThreshold)
            {
                CreditRequests();
            }

            return new ValueTask<bool>(true);
        }

        bool startThread = false;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_consumerWaiting)
            {
                throw new InvalidOperationException("MoveNextAsync was called while a previous call had not completed; an enumerator serves one consumer at a time.");
            }

            if (_consumerCancelled)
            {
                return ValueTask.FromCanceled<bool>(_cancelledBy);
            }

            _demand += _uncredited + 1;
            _uncredited = 0;
            if (_buffer is { Count: > 0 } buffered)
            {
                // Take everything buffered at once (the local queue is empty here, so it becomes
                // the shared buffer); the next calls are served without the lock.
                _buffer = _local;
                _local = buffered;
                _current = buffered.Dequeue();
                WakeProducerIfDueLocked();
                return new ValueTask<bool>(true);
            }

            if (_sourceEnded)
            {
                _current = default!;
                return _sourceError is null ? new ValueTask<bool>(false) : ValueTask.FromException<bool>(_sourceError);
            }

            _consumerWaiting = true;
            _pending.Reset();
            if (!_started)
            {
                _started = true;
                startThread = true;
            }
            else
            {
                WakeProducerIfDueLocked();
            }
        }

        if (startThread)
        {
            StartSourceThread();
        }

        return new ValueTask<bool>(this, _pending.Version);
    }

    private void CreditRequests()
    {
        lock (_gate)
        {
            _demand += _uncredited;
            _uncredited = 0;
            WakeProducerIfDueLocked();
        }
    }

    public ValueTask DisposeAsync()
    {
        bool failPending = false;
        bool cancelSource;
        lock (_gate)
        {
            if (_disposed)
            {
                return default;
            }

            _disposed = true;
            _consumerLeft = true;
            if (_consumerWaiting)
            {
                _consumerWaiting = false;
                failPending = true;
            }

            if (!_started)
            {
                // The source was never asked for anything: there is nothing to stop or clean up.
                _stopRequested = true;
            }

            cancelSource = _started && !_producerExited && !_sourceCancelled;
            _sourceCancelled |= cancelSource;
        }

        _consumerRegistration.Dispose();
        if (failPending)
        {
            _pending.SetException(new ObjectDisposedException(GetType().FullName, "The enumerator was disposed while MoveNextAsync was pending."));
        }

        // The token is cancelled before the source thread is released to clean up, so that its
        // finally blocks see it cancelled (and, with ForEachAsync, see ConsumerException set).
        Exception? callbackError = null;
        if (cancelSource)
        {
            try
            {
                _sourceCancellation.Cancel();
            }
            catch (AggregateException ex)
            {
                // A callback the source registered on its token threw; the source still has to
                // be cleaned up before this is reported.
                callbackError = ex;
            }
        }

        Task? cleanup = null;
        Exception? cleanupError = null;
        lock (_gate)
        {
            if (_producerExited || !_started)
            {
                cleanupError = _cleanupError;
            }
            else
            {
                _stopRequested = true;
                WakeProducerLocked();
                _cleanupDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                cleanup = _cleanupDone.Task;
            }
        }

        if (cleanup is not null)
        {
            return AwaitCleanupAsync(cleanup, callbackError);
        }

        Exception? error = callbackError ?? cleanupError;
        return error is null ? default : ValueTask.FromException(error);
    }

    private static async ValueTask AwaitCleanupAsync(Task cleanup, Exception? callbackError)
    {
        await cleanup.ConfigureAwait(false);
        if (callbackError is not null)
        {
            throw callbackError;
        }
    }

    /// <summary>
    /// Ends the enumeration because a consumer's <paramref name="token"/> was cancelled: a pending
    /// and every later <c>MoveNextAsync</c> throw <see cref="OperationCanceledException"/> for it,
    /// and the source is stopped as if the consumer had left.
    /// </summary>
    internal void OnConsumerCancelled(CancellationToken token)
    {
        bool cancelSource;
        bool failPending = false;
        lock (_gate)
        {
            if (_disposed || _consumerCancelled)
            {
                return;
            }

            _cancelledBy = token;
            _consumerCancelled = true;
            _consumerLeft = true;
            if (_consumerWaiting)
            {
                _consumerWaiting = false;
                failPending = true;
            }

            if (!_started)
            {
                _stopRequested = true;
            }

            cancelSource = _started && !_producerExited && !_sourceCancelled;
            _sourceCancelled |= cancelSource;
        }

        if (failPending)
        {
            _pending.SetException(new OperationCanceledException(token));
        }

        try
        {
            // Runs the source's token callbacks on this thread, as a linked token would; a
            // callback that throws surfaces to whoever cancelled the consumer's token.
            if (cancelSource)
            {
                _sourceCancellation.Cancel();
            }
        }
        finally
        {
            lock (_gate)
            {
                if (!_producerExited)
                {
                    _stopRequested = true;
                    WakeProducerLocked();
                }
            }
        }
    }

    private void StartSourceThread()
    {
        var thread = new Thread(static state => ((ThreadedEnumerator<T>)state!).RunSource())
        {
            IsBackground = true,
            Name = "AsyncUtils.GenTransform source",
        };
        if (_flowExecutionContext)
        {
            thread.Start(this);
        }
        else
        {
            thread.UnsafeStart(this);
        }
    }

    /// <summary>The source thread's whole life.</summary>
    private void RunSource()
    {
        IEnumerator<T>? source = null;
        Exception? stepError = null;
        try
        {
            bool stop;
            lock (_gate)
            {
                stop = _stopRequested;
            }

            if (!stop)
            {
                IEnumerable<T> sequence = _factory(_context, _factoryState)
                    ?? throw new InvalidOperationException("The source factory returned null instead of a sequence.");
                source = sequence.GetEnumerator();
                bool mayProduce = WaitForDemand();
                while (mayProduce && source.MoveNext())
                {
                    // One lock per item in the steady state: hand the item over and take the
                    // next credit together; wait only when there is none.
                    mayProduce = DeliverAndTakeCredit(source.Current) switch
                    {
                        Credit.Taken => true,
                        Credit.None => WaitForDemand(),
                        _ => false,
                    };
                }
            }
        }
        catch (Exception ex)
        {
            stepError = ex;
        }

        Exception? cleanupError = null;
        try
        {
            source?.Dispose();
        }
        catch (Exception ex)
        {
            cleanupError = ex;
        }

        Finish(stepError, cleanupError);
    }

    /// <summary>
    /// Waits until the source may produce one more item; false when it must stop. The consumer's
    /// next request usually follows within microseconds, so the thread first spins briefly (bounded,
    /// yielding, as <see cref="ManualResetEventSlim"/> does) and only then blocks on the monitor,
    /// which costs no CPU however long the consumer stays away.
    /// </summary>
    private bool WaitForDemand()
    {
        if (Volatile.Read(ref _demand) == 0)
        {
            var spinner = default(SpinWait);
            for (int i = 0; i < SpinLimit && Volatile.Read(ref _demand) < _wakeThreshold && !Volatile.Read(ref _stopRequested); i++)
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }
        }

        lock (_gate)
        {
            while (_demand == 0 && !_stopRequested)
            {
                _producerSleeping = true;
                Monitor.Wait(_gate);
            }

            _producerSleeping = false;
            if (_stopRequested)
            {
                return false;
            }

            _demand--;
            return true;
        }
    }

    private Credit DeliverAndTakeCredit(T item)
    {
        Credit credit;
        lock (_gate)
        {
            if (_stopRequested)
            {
                return Credit.Stop;
            }

            if (_demand > 0)
            {
                _demand--;
                credit = Credit.Taken;
            }
            else
            {
                credit = Credit.None;
            }

            if (!_consumerWaiting)
            {
                (_buffer ??= new Queue<T>()).Enqueue(item);
                return credit;
            }

            _consumerWaiting = false;
            _current = item;
        }

        _pending.SetResult(true);
        return credit;
    }

    private void Finish(Exception? stepError, Exception? cleanupError)
    {
        TaskCompletionSource? cleanupDone;
        bool completePending = false;
        Exception? error = null;
        lock (_gate)
        {
            _producerExited = true;
            cleanupDone = _cleanupDone;
            if (_consumerLeft)
            {
                // The consumer left: the in-flight step's outcome has no receiver, but a failing
                // cleanup is reported by DisposeAsync.
                _cleanupError = cleanupError;
            }
            else
            {
                error = stepError ?? cleanupError;
                _sourceEnded = true;
                _sourceError = error;
                if (_consumerWaiting && _buffer is not { Count: > 0 })
                {
                    _consumerWaiting = false;
                    _current = default!;
                    completePending = true;
                }
            }
        }

        if (completePending)
        {
            if (error is null)
            {
                _pending.SetResult(false);
            }
            else
            {
                _pending.SetException(error);
            }
        }

        if (cleanupDone is not null)
        {
            if (cleanupError is null)
            {
                cleanupDone.SetResult();
            }
            else
            {
                cleanupDone.SetException(cleanupError);
            }
        }
    }

    private void WakeProducerIfDueLocked()
    {
        if (_producerSleeping && _demand >= _wakeThreshold)
        {
            _producerSleeping = false;
            Monitor.Pulse(_gate);
        }
    }

    private void WakeProducerLocked()
    {
        if (_producerSleeping)
        {
            _producerSleeping = false;
            Monitor.Pulse(_gate);
        }
    }

    private enum Credit
    {
        Taken,
        None,
        Stop,
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _pending.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _pending.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _pending.OnCompleted(continuation, state, token, flags);
}
