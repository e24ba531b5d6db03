namespace AsyncUtils;

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
/// given an empty batch. Items keep the order in which <see cref="Put"/> calls took effect within a
/// batch, and batches are formed and queued in that order too. Each batch is a new list that the
/// callback may keep.
/// </para>
/// <para>
/// <b>Order of delivery.</b> By default, batches reach the callback in <i>no particular order</i>:
/// with more than one callback allowed at once (the default), a later batch can be handed over
/// before an earlier one. For batches in order, set <see cref="WaterfallOptions.MaxConcurrentBatches"/>
/// to 1 (one callback at a time, in order), or <see cref="WaterfallOptions.OrderedDelivery"/> (the
/// callback is called for each batch in order, and up to the cap of them still run at once).
/// </para>
/// <para>
/// <b>Concurrency.</b> Callbacks run on the thread pool, never on the thread that called
/// <see cref="Put"/>, so collecting the next batch goes on while earlier ones run. Without a cap,
/// several batches may run at once; with <see cref="WaterfallOptions.MaxConcurrentBatches"/> the
/// extra batches wait in order. <see cref="Put"/> never waits for a callback and takes no lock in
/// the common case: it claims a slot in the batch being collected with one atomic increment.
/// Once per batch (its first item and the item that fills it) it takes a short lock, and it
/// allocates only the next batch's storage. If callbacks are slower than producers, waiting
/// batches accumulate in memory (there is no backpressure, as in the Python library async-utils).
/// </para>
/// <para>
/// <b>Failures.</b> A callback that throws is reported through <see cref="CallbackFailed"/> and
/// counted; its items count as handled, and the waterfall goes on with the next batch. Observers
/// cannot break it: an exception thrown by a <see cref="CallbackFailed"/> handler or by a
/// <see cref="System.Diagnostics.Metrics.MeterListener"/> callback is ignored, and the batch is
/// delivered and counted as usual.
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
/// <c>stop</c>, <c>asyncutils.waterfall.items</c> (counter, the same tag) and
/// <c>asyncutils.waterfall.callback.failures</c>, recorded only while a listener is subscribed, and
/// <c>asyncutils.waterfall.queue.depth</c> (observable: items put and not yet handed to the
/// callback, read only when a listener collects); with <see cref="WaterfallOptions.Name"/> set they
/// also carry <c>asyncutils.waterfall.name</c>.
/// </para>
/// <para><b>Thread safety.</b> Every member may be called from any thread at any time.</para>
/// </remarks>
/// <typeparam name="T">The item type.</typeparam>
public sealed class Waterfall<T> : IAsyncDisposable, IWaterfallMetricsSource
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
    private readonly bool _orderedDelivery;

    // Set in the execution context of the callbacks (and of whatever they await or start), so
    // that StopAsync can tell it is being called from inside one of them.
    private readonly AsyncLocal<CallbackScope?> _inCallback = new();

    // The segment accepting items, or null when none does (before Start, after Stop, and after a
    // time flush until the next Put). Invariant: it is never a dispatched segment.
    private volatile Segment? _segment;

    // Guarded by _gate.
    private int _state;
    private bool _disposed;
    private ITimer? _timer;
    private int _running;
    private bool _dispatching; // ordered delivery: a dispatcher is handing out batches
    private Task? _stopTask;
    private TaskCompletionSource? _stopCompletion;
    private ITimer? _finalizeTimer;
    private long _batchesByCount;
    private long _batchesByTime;
    private long _batchesByStop;
    private long _itemsBatched;
    private long _batchesCompleted;
    private long _batchesFailed;
    private long _itemsWaiting; // in batches queued for a callback slot

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
        _orderedDelivery = options.OrderedDelivery;
        _workerStarter = new WorkerStarter(this);
        WaterfallMetrics.Instances.Add(this);
    }

    /// <inheritdoc/>
    string? IWaterfallMetricsSource.Name => _name;

    /// <summary>Items put and not yet handed to the callback; read by the observable instrument when a listener collects.</summary>
    long IWaterfallMetricsSource.QueueDepthForMetrics
    {
        get
        {
            lock (_gate)
            {
                // The current segment is never a sealed one under the lock; its claims can exceed
                // its capacity only by failed claims, which hold no item.
                long collecting = _segment is { } segment ? Math.Min(Volatile.Read(ref segment.Reserved), _maxBatchSize) : 0;
                return collecting + _itemsWaiting;
            }
        }
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
    /// Adds an item to the batch being collected; if that fills it, the batch is dispatched. Lock-free
    /// except once per batch, and never waits for a callback.
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
        // Fast path, no lock: claim a slot in the current segment with one atomic increment.
        Segment? segment = _segment;
        return (segment is not null && TryAppend(segment, item)) || PutSlow(item);
    }

    /// <summary>
    /// Stops accepting items and dispatches the batch being collected. The returned task completes
    /// when every item put before the stop has been handed to the callback (in batches of at most
    /// <see cref="WaterfallOptions.MaxBatchSize"/>) and all those calls have returned. After
    /// <see cref="WaterfallOptions.FinalizeTimeout"/>, if set, the callbacks' token is cancelled;
    /// the task still waits for the callbacks to return. Calling it again returns the same task;
    /// calling it before <see cref="Start"/> stops a waterfall that never ran.
    /// </summary>
    /// <remarks>
    /// Called from inside one of this waterfall's callbacks (or from code that a running callback
    /// awaits or started), the stop cannot complete until that callback returns, so awaiting it
    /// there would wait forever. The stop still begins, but the returned task fails at once with
    /// <see cref="InvalidOperationException"/>. To stop from a callback, begin the stop without
    /// awaiting it, and await it from outside the callbacks.
    /// </remarks>
    /// <param name="cancellationToken">
    /// Abandons this caller's wait only: the stop and the deliveries go on (cancel work through
    /// <see cref="WaterfallOptions.FinalizeTimeout"/> instead).
    /// </param>
    /// <returns>A task that completes when every item has been handled. It does not fail because a callback did.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled before the stop completed.</exception>
    /// <exception cref="InvalidOperationException">(In the task.) Called from inside a running callback of this waterfall, where the stop could never complete.</exception>
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
                    if (_segment is { } segment)
                    {
                        startWorker = RotateLocked(segment, WaterfallFlushReason.Stop);
                    }

                    if (_running == 0 && !_dispatching)
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

        if (!stopTask.IsCompleted && _inCallback.Value is { } scope && Volatile.Read(ref scope.Active) > 0)
        {
            return Task.FromException(new InvalidOperationException(
                "StopAsync was awaited from inside one of this waterfall's callbacks; the stop waits for that callback to return, so it would never complete. The stop has begun: return from the callback, and await StopAsync from outside the callbacks."));
        }

        return cancellationToken.CanBeCanceled && !stopTask.IsCompleted ? stopTask.WaitAsync(cancellationToken) : stopTask;
    }

    /// <summary>Stops the waterfall (see <see cref="StopAsync"/>) and waits until every item has been handled.</summary>
    /// <returns>A task that completes once the stop has.</returns>
    /// <exception cref="InvalidOperationException">Called from inside a running callback of this waterfall (see <see cref="StopAsync"/>).</exception>
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

    /// <summary>
    /// Appends to <paramref name="segment"/> if it has a free slot. A writer claims a slot with one
    /// atomic increment, stores its item and publishes the slot; the worker that runs the batch
    /// waits for every claimed slot to be published. A segment that is sealed (by a time flush or
    /// a stop) has its reservation count pushed far past its capacity, so late claims fail.
    /// </summary>
    private bool TryAppend(Segment segment, T item)
    {
        int slot = Interlocked.Increment(ref segment.Reserved) - 1;
        if ((uint)slot >= (uint)_maxBatchSize)
        {
            return false;
        }

        segment.Items[slot] = item;
        Volatile.Write(ref segment.Published[slot], 1);
        if (slot == _maxBatchSize - 1)
        {
            OnSegmentFull(segment);
        }
        else if (slot == 0)
        {
            OnFirstItem(segment, _timeProvider.GetTimestamp());
        }

        return true;
    }

    private bool PutSlow(T item)
    {
        while (true)
        {
            bool startWorker = false;
            Segment? segment;
            lock (_gate)
            {
                if (_state != Running)
                {
                    return false;
                }

                segment = _segment;
                if (segment is null)
                {
                    _segment = segment = new Segment(_maxBatchSize);
                }
                else if (Volatile.Read(ref segment.Reserved) >= _maxBatchSize)
                {
                    // Full, but its last writer has not dispatched it yet: dispatch it here, so
                    // that a segment leaves _segment only once it is queued.
                    startWorker = RotateLocked(segment, WaterfallFlushReason.Count);
                    segment = _segment;
                }
            }

            if (startWorker)
            {
                StartWorker();
            }

            if (segment is not null && TryAppend(segment, item))
            {
                return true;
            }
        }
    }

    /// <summary>Arms the timer for a batch's first item, <see cref="WaterfallOptions.MaxWait"/> after <paramref name="timestamp"/>, when the item was put.</summary>
    private void OnFirstItem(Segment segment, long timestamp)
    {
        lock (_gate)
        {
            if (segment.Dispatched)
            {
                return;
            }

            segment.FirstTimestamp = timestamp;
            segment.TimerArmed = true;
            TimeSpan remaining = _maxWait - _timeProvider.GetElapsedTime(timestamp);
            _timer!.Change(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }
    }

    private void OnSegmentFull(Segment segment)
    {
        bool startWorker;
        lock (_gate)
        {
            startWorker = !segment.Dispatched && RotateLocked(segment, WaterfallFlushReason.Count);
        }

        if (startWorker)
        {
            StartWorker();
        }
    }

    private void OnMaxWait()
    {
        lock (_gate)
        {
            Segment? segment = _segment;
            if (_state != Running || segment is not { TimerArmed: true, Dispatched: false })
            {
                return;
            }

            TimeSpan remaining = _maxWait - _timeProvider.GetElapsedTime(segment.FirstTimestamp);
            if (remaining >= DueTolerance)
            {
                // A tick meant for an earlier batch that raced with this batch's first item.
                _timer!.Change(remaining, Timeout.InfiniteTimeSpan);
                return;
            }

            if (!RotateLocked(segment, WaterfallFlushReason.Time))
            {
                return;
            }
        }

        StartWorker();
    }

    /// <summary>
    /// Seals <paramref name="segment"/> (the current one, not yet dispatched), queues what it holds
    /// as a batch, and replaces it: with a fresh segment after a count flush while running, with
    /// none otherwise. Returns whether the caller must start a worker (after releasing the lock).
    /// </summary>
    private bool RotateLocked(Segment segment, WaterfallFlushReason reason)
    {
        int claimed = Interlocked.Exchange(ref segment.Reserved, Segment.SealedMark);
        int count = Math.Min(claimed, _maxBatchSize);
        segment.Dispatched = true;
        if (segment.TimerArmed && _timer is not null)
        {
            _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        _segment = reason == WaterfallFlushReason.Count && _state == Running ? new Segment(_maxBatchSize) : null;
        if (count == 0)
        {
            return false; // never an empty batch
        }

        if (count == _maxBatchSize)
        {
            reason = WaterfallFlushReason.Count; // it filled up before the time or stop flush sealed it
        }

        _ready.Enqueue(new ReadyBatch(segment, count, reason));
        _itemsBatched += count;
        _itemsWaiting += count;
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

        if (_orderedDelivery)
        {
            // One dispatcher at a time calls the callback, in queue order.
            if (_dispatching || _running >= _maxConcurrentBatches)
            {
                return false;
            }

            _dispatching = true;
            return true;
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
    /// <see cref="WaterfallOptions.MaxConcurrentBatches"/> slots for its whole run. Two workers
    /// may call the callback in either order, whatever the order they dequeued in.
    /// </summary>
    private async Task RunWorkerAsync()
    {
        var scope = new CallbackScope();
        _inCallback.Value = scope; // undone when this async method returns
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

                if (_ready.TryDequeue(out batch))
                {
                    _itemsWaiting -= batch.Count;
                }
                else
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

            if (batch.Segment is null)
            {
                finalizeTimer?.Dispose();
                stopCompletion?.TrySetResult();
                return;
            }

            ranOne = true;
            failed = false;
            T[] items = batch.TakeItems(_maxBatchSize);
            RecordDispatch(batch.Reason, items.Length);
            Exception? failure = null;
            Volatile.Write(ref scope.Active, 1);
            try
            {
                await _callback(items, _callbackCancellation.Token).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                failure = ex;
            }

            Volatile.Write(ref scope.Active, 0);
            if (failure is not null)
            {
                failed = true;
                ReportFailure(items, batch.Reason, failure);
            }
        }
    }

    /// <summary>
    /// Ordered delivery: calls the callback for each waiting batch in queue order, one call at a
    /// time (the next call begins once the previous one has returned its task), while up to
    /// <see cref="WaterfallOptions.MaxConcurrentBatches"/> of the returned tasks run at once.
    /// Stops when no batch waits or the cap is reached; a batch that finishes starts it again.
    /// </summary>
    private void RunDispatcher()
    {
        var scope = new CallbackScope();
        _inCallback.Value = scope;
        try
        {
            while (true)
            {
                ReadyBatch batch;
                TaskCompletionSource? stopCompletion = null;
                ITimer? finalizeTimer = null;
                lock (_gate)
                {
                    if (_running >= _maxConcurrentBatches || !_ready.TryDequeue(out batch))
                    {
                        _dispatching = false;
                        if (_state == Stopping && _running == 0)
                        {
                            _state = Stopped;
                            stopCompletion = _stopCompletion;
                            finalizeTimer = _finalizeTimer;
                            _finalizeTimer = null;
                        }

                        batch = default;
                    }
                    else
                    {
                        _running++;
                        _itemsWaiting -= batch.Count;
                    }
                }

                if (batch.Segment is null)
                {
                    finalizeTimer?.Dispose();
                    stopCompletion?.TrySetResult();
                    return;
                }

                T[] items = batch.TakeItems(_maxBatchSize);
                RecordDispatch(batch.Reason, items.Length);
                Interlocked.Increment(ref scope.Active);
                ValueTask pending;
                try
                {
                    pending = _callback(items, _callbackCancellation.Token);
                }
                catch (Exception ex)
                {
                    pending = ValueTask.FromException(ex);
                }

                if (pending.IsCompleted)
                {
                    Exception? failure = null;
                    try
                    {
                        pending.GetAwaiter().GetResult();
                    }
                    catch (Exception ex)
                    {
                        failure = ex;
                    }

                    FinishOrderedBatch(items, batch.Reason, failure, scope);
                }
                else
                {
                    _ = AwaitOrderedBatchAsync(pending, items, batch.Reason, scope);
                }
            }
        }
        finally
        {
            _inCallback.Value = null; // a thread-pool thread keeps no trace of the scope
        }
    }

    private async Task AwaitOrderedBatchAsync(ValueTask pending, T[] items, WaterfallFlushReason reason, CallbackScope scope)
    {
        Exception? failure = null;
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            failure = ex;
        }

        FinishOrderedBatch(items, reason, failure, scope);
    }

    /// <summary>Ordered delivery: a batch's callback has finished; frees its slot and restarts the dispatcher if batches wait.</summary>
    private void FinishOrderedBatch(T[] items, WaterfallFlushReason reason, Exception? failure, CallbackScope scope)
    {
        Interlocked.Decrement(ref scope.Active);
        if (failure is not null)
        {
            ReportFailure(items, reason, failure);
        }

        bool startDispatcher = false;
        TaskCompletionSource? stopCompletion = null;
        ITimer? finalizeTimer = null;
        lock (_gate)
        {
            _batchesCompleted++;
            if (failure is not null)
            {
                _batchesFailed++;
            }

            _running--;
            if (!_dispatching && _ready.Count > 0)
            {
                _dispatching = startDispatcher = true;
            }
            else if (_state == Stopping && _running == 0 && !_dispatching)
            {
                _state = Stopped;
                stopCompletion = _stopCompletion;
                finalizeTimer = _finalizeTimer;
                _finalizeTimer = null;
            }
        }

        finalizeTimer?.Dispose();
        stopCompletion?.TrySetResult();
        if (startDispatcher)
        {
            StartWorker();
        }
    }

    /// <summary>
    /// Records a dispatched batch. A <see cref="System.Diagnostics.Metrics.MeterListener"/> runs its
    /// callbacks inline, and one that throws must not lose the batch or its slot: ignored.
    /// </summary>
    private void RecordDispatch(WaterfallFlushReason flushReason, int size)
    {
        if (!WaterfallMetrics.Batches.Enabled && !WaterfallMetrics.BatchSize.Enabled && !WaterfallMetrics.Items.Enabled)
        {
            return;
        }

        var reason = new KeyValuePair<string, object?>(WaterfallMetrics.ReasonTag, WaterfallMetrics.ReasonName(flushReason));
        try
        {
            if (_name is null)
            {
                WaterfallMetrics.Batches.Add(1, reason);
                WaterfallMetrics.BatchSize.Record(size, reason);
                WaterfallMetrics.Items.Add(size, reason);
            }
            else
            {
                var name = new KeyValuePair<string, object?>(WaterfallMetrics.NameTag, _name);
                WaterfallMetrics.Batches.Add(1, reason, name);
                WaterfallMetrics.BatchSize.Record(size, reason, name);
                WaterfallMetrics.Items.Add(size, reason, name);
            }
        }
#pragma warning disable CA1031 // An observer must not break delivery; documented on the class.
        catch (Exception)
#pragma warning restore CA1031
        {
        }
    }

    private void ReportFailure(T[] items, WaterfallFlushReason reason, Exception exception)
    {
        if (WaterfallMetrics.Failures.Enabled)
        {
            try
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
#pragma warning disable CA1031 // An observer must not break delivery; documented on the class.
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }

        EventHandler<WaterfallCallbackFailedEventArgs<T>>? handler = CallbackFailed;
        if (handler is null)
        {
            return;
        }

        try
        {
            handler(this, new WaterfallCallbackFailedEventArgs<T>(items, reason, exception));
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

    /// <summary>
    /// One batch being collected: writers claim slots with <see cref="Reserved"/> and publish them
    /// in <see cref="Published"/>. The other fields are guarded by the waterfall's lock.
    /// </summary>
    private sealed class Segment(int capacity)
    {
        /// <summary>Pushed into <see cref="Reserved"/> when sealed, so that later claims fail without overflowing.</summary>
        public const int SealedMark = int.MaxValue / 2;

        public readonly T[] Items = new T[capacity];
        public readonly int[] Published = new int[capacity];
        public int Reserved;
        public long FirstTimestamp;
        public bool TimerArmed;
        public bool Dispatched;
    }

    private readonly record struct ReadyBatch(Segment Segment, int Count, WaterfallFlushReason Reason)
    {
        /// <summary>
        /// Waits for every claimed slot to be published (a writer between its claim and its store
        /// is a few instructions from done) and returns the batch: the segment's own array when
        /// full, an exact copy otherwise.
        /// </summary>
        public T[] TakeItems(int capacity)
        {
            int[] published = Segment.Published;
            for (int i = 0; i < Count; i++)
            {
                if (Volatile.Read(ref published[i]) == 0)
                {
                    var spinner = default(SpinWait);
                    while (Volatile.Read(ref published[i]) == 0)
                    {
                        spinner.SpinOnce();
                    }
                }
            }

            return Count == capacity ? Segment.Items : Segment.Items.AsSpan(0, Count).ToArray();
        }
    }

    /// <summary>One reusable thread-pool work item per waterfall, so that starting a worker allocates nothing.</summary>
    private sealed class WorkerStarter(Waterfall<T> owner) : IThreadPoolWorkItem
    {
        public void Execute()
        {
            if (owner._orderedDelivery)
            {
                owner.RunDispatcher();
            }
            else
            {
                _ = owner.RunWorkerAsync();
            }
        }
    }

    /// <summary>
    /// Marks the execution context of one worker's (or dispatcher's) callbacks; <see cref="Active"/>
    /// counts its callbacks that have not finished yet.
    /// </summary>
    private sealed class CallbackScope
    {
        public int Active;
    }
}
