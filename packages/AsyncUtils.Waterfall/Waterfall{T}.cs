using System.Runtime.CompilerServices;

namespace AsyncUtils.Waterfall;

/// <summary>
/// A batcher: <see cref="Put"/> items from any thread, and an async callback receives them in
/// batches of at most <see cref="WaterfallOptions.MaxBatchSize"/>, each dispatched as soon as it is
/// full or once <see cref="WaterfallOptions.MaxWait"/> has passed since its first item, whichever
/// comes first.
/// </summary>
/// <remarks>
/// <para>
/// <b>Life cycle.</b> Create, <see cref="Start"/> (once), <see cref="Put"/> any number of times,
/// then <see cref="StopAsync"/> or <see cref="DisposeAsync"/>. A waterfall cannot be restarted.
/// </para>
/// <para>
/// <b>Delivery.</b> Every item put while the waterfall was running is handed to the callback exactly
/// once, in a batch of 1 to <see cref="WaterfallOptions.MaxBatchSize"/> items; the callback is never
/// given an empty batch. Items keep the order in which <see cref="Put"/> calls took effect, within a
/// batch and across batches (batches are formed and queued in order; with
/// <see cref="WaterfallOptions.MaxConcurrentBatches"/> of 1 they also run in order). Each batch is a
/// new list that the callback may keep.
/// </para>
/// <para>
/// <b>Concurrency.</b> Callbacks run on the thread pool, never on the thread that called
/// <see cref="Put"/>, so collecting the next batch goes on while earlier ones run. Without a cap,
/// several batches may run at once; with <see cref="WaterfallOptions.MaxConcurrentBatches"/> the
/// extra batches wait in order. <see cref="Put"/> never waits for a callback: it takes a short
/// lock, and it does not allocate except for one array per batch. If callbacks are slower than
/// producers, waiting batches accumulate in memory (there is no backpressure, as in the seed).
/// </para>
/// <para>
/// <b>Failures.</b> A callback that throws is reported through <see cref="CallbackFailed"/> and
/// counted; its items count as handled, and the waterfall goes on with the next batch.
/// </para>
/// <para>
/// <b>Idle costs nothing.</b> The timer is armed only while a batch holds items (once per batch,
/// at its first item) and disarmed when the batch leaves; with no items there are no timer ticks,
/// no threads and no spinning.
/// </para>
/// <para>
/// <b>Metrics.</b> Besides <see cref="GetStatistics"/>, the <c>AsyncUtils.Waterfall</c> meter
/// publishes <c>asyncutils.waterfall.batches</c> (counter) and <c>asyncutils.waterfall.batch.size</c>
/// (histogram), both tagged <c>asyncutils.waterfall.flush_reason</c> = <c>count</c>, <c>time</c> or
/// <c>stop</c>, and <c>asyncutils.waterfall.callback.failures</c>; with
/// <see cref="WaterfallOptions.Name"/> set they also carry <c>asyncutils.waterfall.name</c>.
/// </para>
/// <para><b>Thread safety.</b> Every member may be called from any thread at any time.</para>
/// </remarks>
/// <typeparam name="T">The item type.</typeparam>
public sealed class Waterfall<T> : IAsyncDisposable
{
    private const int Created = 0;
    private const int Running = 1;
    private const int Stopping = 2;
    private const int Stopped = 3;

    // A timer that fires less than this before the batch is due (system timers have millisecond
    // resolution) flushes at once rather than re-arming for a sub-millisecond wait.
    private static readonly TimeSpan DueTolerance = TimeSpan.FromMilliseconds(1);

#if NET9_0_OR_GREATER
    private readonly Lock _gate = new();
#else
    private readonly object _gate = new();
#endif
    private readonly Func<IReadOnlyList<T>, CancellationToken, ValueTask> _callback;
    private readonly int _maxBatchSize;
    private readonly TimeSpan _maxWait;
    private readonly int _maxConcurrentBatches;
    private readonly TimeSpan? _finalizeTimeout;
    private readonly TimeProvider _timeProvider;
    private readonly string? _name;
    private readonly CancellationTokenSource _callbackCancellation = new();
    private readonly Queue<ReadyBatch> _ready = new();
    private readonly WorkerStarter _workerStarter;

    // Guarded by _gate.
    private int _state;
    private bool _disposed;
    private ITimer? _timer;
    private T[]? _current;
    private int _count;
    private long _firstItemTimestamp;
    private int _running;
    private Task? _stopTask;
    private TaskCompletionSource? _stopCompletion;
    private ITimer? _finalizeTimer;
    private long _batchesByCount;
    private long _batchesByTime;
    private long _batchesByStop;
    private long _itemsBatched;
    private long _batchesCompleted;
    private long _batchesFailed;

    /// <summary>Creates a waterfall with the default options (batches of up to 100, one second's wait).</summary>
    /// <param name="callback">Receives each batch and the token that <see cref="WaterfallOptions.FinalizeTimeout"/> cancels.</param>
    /// <exception cref="ArgumentNullException"><paramref name="callback"/> is <see langword="null"/>.</exception>
    public Waterfall(Func<IReadOnlyList<T>, CancellationToken, ValueTask> callback)
        : this(callback, null)
    {
    }

    /// <summary>Creates a waterfall. It does nothing until <see cref="Start"/>.</summary>
    /// <param name="callback">Receives each batch and the token that <see cref="WaterfallOptions.FinalizeTimeout"/> cancels.</param>
    /// <param name="options">Batch size, wait, concurrency cap, finalize timeout, clock and name; copied; <see langword="null"/> for the defaults.</param>
    /// <exception cref="ArgumentNullException"><paramref name="callback"/> is <see langword="null"/>.</exception>
    public Waterfall(Func<IReadOnlyList<T>, CancellationToken, ValueTask> callback, WaterfallOptions? options)
    {
        ArgumentNullException.ThrowIfNull(callback);
        options ??= new WaterfallOptions();
        _callback = callback;
        _maxBatchSize = options.MaxBatchSize;
        _maxWait = options.MaxWait;
        _maxConcurrentBatches = options.MaxConcurrentBatches ?? int.MaxValue;
        _finalizeTimeout = options.FinalizeTimeout;
        _timeProvider = options.TimeProvider ?? TimeProvider.System;
        _name = options.Name;
        _workerStarter = new WorkerStarter(this);
    }

    /// <summary>
    /// Raised, on the thread pool, each time the callback throws, with the batch and the exception.
    /// The waterfall goes on either way. An exception thrown by a handler is ignored, so that a
    /// faulty handler cannot stop the delivery of later batches.
    /// </summary>
    public event EventHandler<WaterfallCallbackFailedEventArgs<T>>? CallbackFailed;

    /// <summary>Begins accepting items.</summary>
    /// <exception cref="InvalidOperationException">The waterfall was already started, or was stopped.</exception>
    /// <exception cref="ObjectDisposedException">The waterfall was disposed.</exception>
    public void Start()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_state != Created)
            {
                throw new InvalidOperationException(_state == Running
                    ? "The waterfall is already running; Start may be called only once."
                    : "The waterfall has been stopped and cannot be started again.");
            }

            // The timer must not capture the caller's ExecutionContext (its AsyncLocals) for the
            // waterfall's whole life.
            bool suppress = !ExecutionContext.IsFlowSuppressed();
            AsyncFlowControl flow = suppress ? ExecutionContext.SuppressFlow() : default;
            try
            {
                _timer = _timeProvider.CreateTimer(
                    static state => ((Waterfall<T>)state!).OnMaxWait(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }
            finally
            {
                if (suppress)
                {
                    flow.Undo();
                }
            }

            _state = Running;
        }
    }

    /// <summary>
    /// Adds an item to the batch being collected; if that fills it, the batch is dispatched. Takes a
    /// short lock and never waits for a callback.
    /// </summary>
    /// <param name="item">The item.</param>
    /// <exception cref="InvalidOperationException">The waterfall is not running: not yet started, or stopping or stopped.</exception>
    /// <exception cref="ObjectDisposedException">The waterfall was disposed.</exception>
    public void Put(T item)
    {
        if (!TryPut(item))
        {
            throw NotRunning();
        }
    }

    /// <summary>
    /// Adds an item like <see cref="Put"/>, but returns <see langword="false"/> instead of throwing
    /// when the waterfall is not running, for producers that may race a stop.
    /// </summary>
    /// <param name="item">The item.</param>
    /// <returns><see langword="true"/> when the item was accepted and will be delivered.</returns>
    public bool TryPut(T item)
    {
        T[] full;
        lock (_gate)
        {
            if (_state != Running)
            {
                return false;
            }

            T[] batch = _current ??= new T[_maxBatchSize];
            int count = _count;
            batch[count++] = item;
            if (count < _maxBatchSize)
            {
                _count = count;
                if (count == 1)
                {
                    _firstItemTimestamp = _timeProvider.GetTimestamp();
                    _timer!.Change(_maxWait, Timeout.InfiniteTimeSpan);
                }

                return true;
            }

            if (count > 1)
            {
                _timer!.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            }

            full = batch;
            _current = null;
            _count = 0;
            if (!EnqueueLocked(full, WaterfallFlushReason.Count))
            {
                return true;
            }
        }

        StartWorker();
        return true;
    }

    /// <summary>
    /// Stops accepting items and dispatches the batch being collected. The returned task completes
    /// when every item put before the stop has been handed to the callback (in batches of at most
    /// <see cref="WaterfallOptions.MaxBatchSize"/>) and all those calls have returned. After
    /// <see cref="WaterfallOptions.FinalizeTimeout"/>, if set, the callbacks' token is cancelled;
    /// the task still waits for the callbacks to return. Calling it again returns the same task;
    /// calling it before <see cref="Start"/> stops a waterfall that never ran.
    /// </summary>
    /// <param name="cancellationToken">
    /// Abandons this caller's wait only: the stop and the deliveries go on (cancel work through
    /// <see cref="WaterfallOptions.FinalizeTimeout"/> instead).
    /// </param>
    /// <returns>A task that completes when every item has been handled. It does not fail because a callback did.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled before the stop completed.</exception>
    public Task StopAsync(CancellationToken cancellationToken = default)
    {
        bool startWorker = false;
        bool cancelCallbacksNow = false;
        ITimer? timer = null;
        Task stopTask;
        lock (_gate)
        {
            if (_stopTask is null)
            {
                if (_state == Created)
                {
                    _state = Stopped;
                    _stopTask = Task.CompletedTask;
                }
                else
                {
                    _state = Stopping;
                    timer = _timer;
                    _timer = null;
                    if (_count > 0)
                    {
                        startWorker = EnqueueLocked(TakePartialBatchLocked(), WaterfallFlushReason.Stop);
                    }

                    if (_running == 0)
                    {
                        _state = Stopped;
                        _stopTask = Task.CompletedTask;
                    }
                    else
                    {
                        _stopCompletion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                        _stopTask = _stopCompletion.Task;
                        if (_finalizeTimeout is { } finalizeTimeout)
                        {
                            if (finalizeTimeout == TimeSpan.Zero)
                            {
                                cancelCallbacksNow = true;
                            }
                            else
                            {
                                _finalizeTimer = _timeProvider.CreateTimer(
                                    static state => ((Waterfall<T>)state!).CancelCallbacks(), this, finalizeTimeout, Timeout.InfiniteTimeSpan);
                            }
                        }
                    }
                }
            }

            stopTask = _stopTask;
        }

        timer?.Dispose();
        if (cancelCallbacksNow)
        {
            CancelCallbacks();
        }

        if (startWorker)
        {
            StartWorker();
        }

        return cancellationToken.CanBeCanceled && !stopTask.IsCompleted ? stopTask.WaitAsync(cancellationToken) : stopTask;
    }

    /// <summary>Stops the waterfall (see <see cref="StopAsync"/>) and waits until every item has been handled.</summary>
    /// <returns>A task that completes once the stop has.</returns>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        lock (_gate)
        {
            _disposed = true;
        }
    }

    /// <summary>Returns a consistent snapshot of the batch counters.</summary>
    /// <returns>The counters, cumulative from creation.</returns>
    public WaterfallStatistics GetStatistics()
    {
        lock (_gate)
        {
            return new WaterfallStatistics(_batchesByCount, _batchesByTime, _batchesByStop, _itemsBatched, _batchesCompleted, _batchesFailed);
        }
    }

    private InvalidOperationException NotRunning()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return new ObjectDisposedException(GetType().FullName);
            }

            return new InvalidOperationException(_state == Created
                ? "The waterfall has not been started; call Start before Put."
                : "The waterfall has been stopped and accepts no more items.");
        }
    }

    private void OnMaxWait()
    {
        lock (_gate)
        {
            if (_state != Running || _count == 0)
            {
                return;
            }

            TimeSpan remaining = _maxWait - _timeProvider.GetElapsedTime(_firstItemTimestamp);
            if (remaining >= DueTolerance)
            {
                // A tick meant for an earlier batch that raced with this batch's first item.
                _timer!.Change(remaining, Timeout.InfiniteTimeSpan);
                return;
            }

            if (!EnqueueLocked(TakePartialBatchLocked(), WaterfallFlushReason.Time))
            {
                return;
            }
        }

        StartWorker();
    }

    private T[] TakePartialBatchLocked()
    {
        T[] current = _current!;
        int count = _count;
        T[] batch = current.AsSpan(0, count).ToArray();
        if (RuntimeHelpers.IsReferenceOrContainsReferences<T>())
        {
            Array.Clear(current, 0, count);
        }

        _count = 0;
        return batch;
    }

    /// <summary>Queues a formed batch; returns whether the caller must start a worker for it (after releasing the lock).</summary>
    private bool EnqueueLocked(T[] batch, WaterfallFlushReason reason)
    {
        _ready.Enqueue(new ReadyBatch(batch, reason));
        _itemsBatched += batch.Length;
        switch (reason)
        {
            case WaterfallFlushReason.Count:
                _batchesByCount++;
                break;
            case WaterfallFlushReason.Time:
                _batchesByTime++;
                break;
            default:
                _batchesByStop++;
                break;
        }

        if (_running >= _maxConcurrentBatches)
        {
            return false;
        }

        _running++;
        return true;
    }

    private void StartWorker() => ThreadPool.UnsafeQueueUserWorkItem(_workerStarter, preferLocal: false);

    /// <summary>
    /// Runs batches until none is waiting. Each worker holds one of the
    /// <see cref="WaterfallOptions.MaxConcurrentBatches"/> slots for its whole run.
    /// </summary>
    private async Task RunWorkerAsync()
    {
        bool ranOne = false;
        bool failed = false;
        while (true)
        {
            ReadyBatch batch;
            TaskCompletionSource? stopCompletion = null;
            ITimer? finalizeTimer = null;
            lock (_gate)
            {
                if (ranOne)
                {
                    _batchesCompleted++;
                    if (failed)
                    {
                        _batchesFailed++;
                    }
                }

                if (!_ready.TryDequeue(out batch))
                {
                    _running--;
                    if (_state == Stopping && _running == 0)
                    {
                        _state = Stopped;
                        stopCompletion = _stopCompletion;
                        finalizeTimer = _finalizeTimer;
                        _finalizeTimer = null;
                    }
                }
            }

            if (batch.Items is null)
            {
                finalizeTimer?.Dispose();
                stopCompletion?.TrySetResult();
                return;
            }

            ranOne = true;
            failed = false;
            RecordDispatch(batch);
            try
            {
                await _callback(batch.Items, _callbackCancellation.Token).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                failed = true;
                ReportFailure(batch, ex);
            }
        }
    }

    private void RecordDispatch(ReadyBatch batch)
    {
        if (!WaterfallMetrics.Batches.Enabled && !WaterfallMetrics.BatchSize.Enabled)
        {
            return;
        }

        var reason = new KeyValuePair<string, object?>(WaterfallMetrics.ReasonTag, WaterfallMetrics.ReasonName(batch.Reason));
        if (_name is null)
        {
            WaterfallMetrics.Batches.Add(1, reason);
            WaterfallMetrics.BatchSize.Record(batch.Items.Length, reason);
        }
        else
        {
            var name = new KeyValuePair<string, object?>(WaterfallMetrics.NameTag, _name);
            WaterfallMetrics.Batches.Add(1, reason, name);
            WaterfallMetrics.BatchSize.Record(batch.Items.Length, reason, name);
        }
    }

    private void ReportFailure(ReadyBatch batch, Exception exception)
    {
        if (WaterfallMetrics.Failures.Enabled)
        {
            if (_name is null)
            {
                WaterfallMetrics.Failures.Add(1);
            }
            else
            {
                WaterfallMetrics.Failures.Add(1, new KeyValuePair<string, object?>(WaterfallMetrics.NameTag, _name));
            }
        }

        EventHandler<WaterfallCallbackFailedEventArgs<T>>? handler = CallbackFailed;
        if (handler is null)
        {
            return;
        }

        try
        {
            handler(this, new WaterfallCallbackFailedEventArgs<T>(batch.Items, batch.Reason, exception));
        }
#pragma warning disable CA1031 // A faulty handler must not stop the delivery of later batches; documented on the event.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private void CancelCallbacks()
    {
        try
        {
            _callbackCancellation.Cancel();
        }
        catch (AggregateException)
        {
            // A registration a callback made on its token threw. It runs on a timer thread, where
            // an escaping exception would end the process; the callbacks themselves still end.
        }
    }

    private readonly record struct ReadyBatch(T[] Items, WaterfallFlushReason Reason);

    /// <summary>One reusable thread-pool work item per waterfall, so that starting a worker allocates nothing.</summary>
    private sealed class WorkerStarter(Waterfall<T> owner) : IThreadPoolWorkItem
    {
        public void Execute() => _ = owner.RunWorkerAsync();
    }
}
