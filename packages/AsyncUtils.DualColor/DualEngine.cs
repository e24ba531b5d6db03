using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace AsyncUtils;

internal enum PutStatus
{
    Accepted,
    Full,
    TimedOut,
    Completed,
}

internal enum TakeStatus
{
    Taken,
    TimedOut,
    Completed,
}

/// <summary>
/// The queue logic shared by <see cref="DualQueue{T}"/>, <see cref="DualStack{T}"/> and
/// <see cref="DualPriorityQueue{TElement, TPriority}"/>, written once and specialised by the
/// storage struct <typeparamref name="TStore"/>.
/// </summary>
/// <remarks>
/// <para>
/// One lock guards the store, the two waiter lists (each holding blocking and async waiters in
/// the order they began waiting) and the completion state. Invariants, true whenever the lock is
/// free: takers wait only while the store is empty; putters wait only while the store is full;
/// so at most one side has waiters. A put with a taker waiting hands its item straight to the
/// oldest taker; a take from a full store with a putter waiting moves the oldest putter's item
/// into the store. Nobody barges: a try-now call never takes what a waiter is owed.
/// </para>
/// <para>
/// No thread blocks, and no continuation or user callback runs, while the lock is held: the
/// party that removes a waiter from its list sets its outcome under the lock and wakes it after
/// releasing the lock; async waiters complete with asynchronous continuations.
/// </para>
/// </remarks>
internal sealed class DualEngine<T, TOut, TStore> : IDualColorMetricsSource
    where TStore : struct, IDualStore<T, TOut>
{
    private readonly SyncLock _sync = new();
    private readonly int _capacity;
    private readonly int? _boundedCapacity;
    private readonly QueueFullMode _fullMode;
    private readonly Action<T>? _onDropped;
    private readonly TimeProvider _time;
    private readonly bool _systemTime;
    private readonly WaiterList<TOut> _takers;
    private readonly WaiterList<T> _putters;

    // Owned by _sync. Not readonly: the store is a mutable struct, changed in place.
#pragma warning disable IDE0044
    private TStore _store;
#pragma warning restore IDE0044
    private WaiterList<bool>? _readWaiters;
    private WaiterList<bool>? _writeWaiters;
    private bool _completed;
    private bool _drained;
    private Exception? _error;
    private TaskCompletionSource? _completion;

    internal DualEngine(TStore store, int? capacity, QueueFullMode fullMode, Action<T>? onDropped, TimeProvider? timeProvider, string? name = null)
    {
        _store = store;
        _boundedCapacity = capacity;
        _capacity = capacity ?? int.MaxValue;
        _fullMode = fullMode;
        _onDropped = onDropped;
        _time = timeProvider ?? TimeProvider.System;
        _systemTime = ReferenceEquals(_time, TimeProvider.System);
        _takers = new WaiterList<TOut>(_sync) { Timing = new WaitTiming(_time, "take", name) };
        _putters = new WaiterList<T>(_sync) { Timing = new WaitTiming(_time, "put", name) };
        Name = name;
        DualColorMetrics.Instances.Add(this);
    }

    private enum PutOutcome
    {
        Done,
        Full,
        Completed,
    }

    internal int? Capacity => _boundedCapacity;

    /// <summary>The name from the options: the <c>asyncutils.queue.name</c> tag of the queue's metrics.</summary>
    public string? Name { get; }

    long IDualColorMetricsSource.DepthForMetrics => Count;

    long IDualColorMetricsSource.WaitingPuttersForMetrics => WaitingPutters;

    long IDualColorMetricsSource.WaitingTakersForMetrics => WaitingTakers;

    internal QueueFullMode FullMode => _fullMode;

    /// <summary>The error the queue was completed with; read only after a call has seen the queue completed.</summary>
    internal Exception? CompletionError => _error;

    internal int Count
    {
        get
        {
            lock (_sync)
            {
                return _store.Count;
            }
        }
    }

    internal int WaitingPutters
    {
        get
        {
            lock (_sync)
            {
                return _putters.Count;
            }
        }
    }

    internal int WaitingTakers
    {
        get
        {
            lock (_sync)
            {
                return _takers.Count;
            }
        }
    }

    internal bool IsCompleted
    {
        get
        {
            lock (_sync)
            {
                return _completed;
            }
        }
    }

    internal Task Completion
    {
        get
        {
            lock (_sync)
            {
                if (_completion is null)
                {
                    _completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    if (_drained)
                    {
                        SetCompletion(_completion); // fresh: nothing is attached to it yet
                    }
                }

                return _completion.Task;
            }
        }
    }

    // ------------------------------------------------------------------ put

    internal bool TryPut(T item)
    {
        AfterPut after = default;
        PutOutcome outcome;
        lock (_sync)
        {
            outcome = PutLocked(item, ref after);
        }

        if (outcome != PutOutcome.Done)
        {
            return false;
        }

        FinishPut(ref after);
        return true;
    }

    internal PutStatus Put(T item, TimeSpan timeout, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        AfterPut after = default;
        PutOutcome outcome;
        BlockingWaiter<T>? waiter = null;

        // On an injected clock the timeout is armed before the waiter can be seen in the queue, so
        // it counts from the call: the clock may move before this thread gets round to waiting.
        BlockingWaiter<T>? rented = null;
        TimeoutTimer<T>? timer = null;
        if (!_systemTime && _fullMode == QueueFullMode.Wait && timeout != TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            rented = BlockingWaiter<T>.Rent();
            timer = new TimeoutTimer<T>(_putters, rented, _time, timeout);
        }

        // A wait is timed from the call, like its timeout, and only while a listener is subscribed.
        bool timed = _fullMode == QueueFullMode.Wait && timeout != TimeSpan.Zero && DualColorMetrics.WaitDuration.Enabled;
        long waitStart = timed ? _time.GetTimestamp() : 0;

        lock (_sync)
        {
            outcome = PutLocked(item, ref after);
            if (outcome == PutOutcome.Full && _fullMode == QueueFullMode.Wait && timeout != TimeSpan.Zero && timer is not { FiredLocked: true })
            {
                waiter = rented ?? BlockingWaiter<T>.Rent();
                waiter.Value = item;
                _putters.EnqueueLocked(waiter);
            }
        }

        if (waiter is null)
        {
            timer?.Dispose();
            rented?.Return();
            switch (outcome)
            {
                case PutOutcome.Done:
                    FinishPut(ref after);
                    return PutStatus.Accepted;
                case PutOutcome.Completed:
                    return PutStatus.Completed;
                default:
                    return _fullMode == QueueFullMode.Reject ? PutStatus.Full : PutStatus.TimedOut;
            }
        }

        WaitStatus status = WaitBlocking(_putters, waiter, timer, timeout, cancellationToken);
        waiter.Return();
        if (timed)
        {
            DualColorMetrics.RecordWait(_putters.Timing!, waitStart, status);
        }

        return status switch
        {
            WaitStatus.Granted => PutStatus.Accepted,
            WaitStatus.Completed => PutStatus.Completed,
            WaitStatus.TimedOut => PutStatus.TimedOut,
            _ => throw new OperationCanceledException(cancellationToken),
        };
    }

    internal ValueTask PutAsync(T item, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(cancellationToken);
        }

        AfterPut after = default;
        PutOutcome outcome;
        AsyncWaiter<T>? waiter = null;
        short version = 0;
        lock (_sync)
        {
            outcome = PutLocked(item, ref after);
            if (outcome == PutOutcome.Full && _fullMode == QueueFullMode.Wait)
            {
                waiter = _putters.RentLocked();
                version = waiter.Version;
                waiter.Value = item;
                _putters.EnqueueLocked(waiter);
            }
        }

        if (waiter is not null)
        {
            StartTiming(waiter);
            waiter.RegisterCancellation(cancellationToken);
            return new ValueTask(waiter, version);
        }

        switch (outcome)
        {
            case PutOutcome.Done:
                try
                {
                    FinishPut(ref after);
                }
                catch (Exception e) // only the OnDropped callback can throw; the put has taken effect
                {
                    return ValueTask.FromException(e);
                }

                return default;
            case PutOutcome.Completed:
                return DualThrow.Failed(DualThrow.CompletedForPut(_error));
            default:
                return ValueTask.FromException(DualThrow.Full());
        }
    }

    internal ValueTask<bool> WaitToPutAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<bool>(cancellationToken);
        }

        AsyncWaiter<bool>? waiter = null;
        short version = 0;
        bool completed = false;
        lock (_sync)
        {
            if (_completed)
            {
                completed = true;
            }
            else if (_fullMode is not (QueueFullMode.DropOldest or QueueFullMode.DropNewest) && _store.Count >= _capacity)
            {
                WaiterList<bool> list = _writeWaiters ??= new WaiterList<bool>(_sync);
                waiter = list.RentLocked();
                version = waiter.Version;
                list.EnqueueLocked(waiter);
            }
        }

        if (waiter is not null)
        {
            waiter.RegisterCancellation(cancellationToken);
            return new ValueTask<bool>(waiter, version);
        }

        return !completed ? new ValueTask<bool>(true)
            : _error is null ? new ValueTask<bool>(false)
            : DualThrow.Failed<bool>(DualThrow.CompletedForPut(_error));
    }

    // ------------------------------------------------------------------ take

    internal bool TryTake([MaybeNullWhen(false)] out TOut item)
    {
        AfterTake after = default;
        bool taken;
        lock (_sync)
        {
            taken = TakeLocked(out item, ref after);
        }

        if (taken)
        {
            FinishTake(ref after);
        }

        return taken;
    }

    /// <summary>Reads the item a take would return next, without taking it.</summary>
    internal bool TryPeek([MaybeNullWhen(false)] out TOut item)
    {
        lock (_sync)
        {
            if (_store.Count == 0)
            {
                item = default;
                return false;
            }

            item = _store.Peek();
            return true;
        }
    }

    internal TakeStatus Take(out TOut? item, TimeSpan timeout, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        AfterTake after = default;
        BlockingWaiter<TOut>? waiter = null;
        bool taken;
        bool completed = false;

        // As in Put: on an injected clock the timeout counts from the call.
        BlockingWaiter<TOut>? rented = null;
        TimeoutTimer<TOut>? timer = null;
        if (!_systemTime && timeout != TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            rented = BlockingWaiter<TOut>.Rent();
            timer = new TimeoutTimer<TOut>(_takers, rented, _time, timeout);
        }

        // As in Put: timed from the call, only while a listener is subscribed.
        bool timed = timeout != TimeSpan.Zero && DualColorMetrics.WaitDuration.Enabled;
        long waitStart = timed ? _time.GetTimestamp() : 0;

        lock (_sync)
        {
            taken = TakeLocked(out item, ref after);
            if (!taken)
            {
                if (_completed)
                {
                    completed = true;
                }
                else if (timeout != TimeSpan.Zero && timer is not { FiredLocked: true })
                {
                    waiter = rented ?? BlockingWaiter<TOut>.Rent();
                    _takers.EnqueueLocked(waiter);
                }
            }
        }

        if (waiter is null)
        {
            timer?.Dispose();
            rented?.Return();
        }

        if (taken)
        {
            FinishTake(ref after);
            return TakeStatus.Taken;
        }

        if (waiter is null)
        {
            return completed ? TakeStatus.Completed : TakeStatus.TimedOut;
        }

        WaitStatus status = WaitBlocking(_takers, waiter, timer, timeout, cancellationToken);
        item = waiter.Value;
        waiter.Return();
        if (timed)
        {
            DualColorMetrics.RecordWait(_takers.Timing!, waitStart, status);
        }

        return status switch
        {
            WaitStatus.Granted => TakeStatus.Taken,
            WaitStatus.Completed => TakeStatus.Completed,
            WaitStatus.TimedOut => TakeStatus.TimedOut,
            _ => throw new OperationCanceledException(cancellationToken),
        };
    }

    internal ValueTask<TOut> TakeAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<TOut>(cancellationToken);
        }

        AfterTake after = default;
        AsyncWaiter<TOut>? waiter = null;
        short version = 0;
        bool taken;
        TOut? item;
        lock (_sync)
        {
            taken = TakeLocked(out item, ref after);
            if (!taken && !_completed)
            {
                waiter = _takers.RentLocked();
                version = waiter.Version;
                _takers.EnqueueLocked(waiter);
            }
        }

        if (taken)
        {
            FinishTake(ref after);
            return new ValueTask<TOut>(item!);
        }

        if (waiter is null)
        {
            return DualThrow.Failed<TOut>(DualThrow.CompletedForTake(_error));
        }

        StartTiming(waiter);
        waiter.RegisterCancellation(cancellationToken);
        return new ValueTask<TOut>(waiter, version);
    }

    internal ValueTask<bool> WaitToTakeAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<bool>(cancellationToken);
        }

        AsyncWaiter<bool>? waiter = null;
        short version = 0;
        bool ready = false;
        lock (_sync)
        {
            if (_store.Count > 0)
            {
                ready = true;
            }
            else if (!_completed)
            {
                WaiterList<bool> list = _readWaiters ??= new WaiterList<bool>(_sync);
                waiter = list.RentLocked();
                version = waiter.Version;
                list.EnqueueLocked(waiter);
            }
        }

        if (waiter is not null)
        {
            waiter.RegisterCancellation(cancellationToken);
            return new ValueTask<bool>(waiter, version);
        }

        return ready ? new ValueTask<bool>(true)
            : _error is null ? new ValueTask<bool>(false)
            : DualThrow.Failed<bool>(DualThrow.CompletedForTake(_error));
    }

    internal async IAsyncEnumerable<TOut> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (true)
        {
            TOut item = default!;
            bool ended = false;
            try
            {
                item = await TakeAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (QueueCompletedException e) when (e.InnerException is null)
            {
                ended = true;
            }

            if (ended)
            {
                yield break;
            }

            yield return item;
        }
    }

    internal IEnumerable<TOut> GetConsumingEnumerable(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (Take(out TOut? item, Timeout.InfiniteTimeSpan, cancellationToken) != TakeStatus.Taken)
            {
                if (_error is not null)
                {
                    DualThrow.ThrowCompletedForTake(_error);
                }

                yield break;
            }

            yield return item!;
        }
    }

    // ------------------------------------------------------------------ completion

    internal bool TryComplete(Exception? error)
    {
        Waiter<T>? putters;
        Waiter<bool>? writers;
        Waiter<TOut>? takers = null;
        Waiter<bool>? readers = null;
        TaskCompletionSource? completion = null;
        lock (_sync)
        {
            if (_completed)
            {
                return false;
            }

            _error = error;
            _completed = true;
            putters = _putters.DetachAllLocked(WaitStatus.Completed);
            writers = _writeWaiters?.DetachAllLocked(WaitStatus.Completed);
            if (_store.Count == 0)
            {
                _drained = true;
                takers = _takers.DetachAllLocked(WaitStatus.Completed);
                readers = _readWaiters?.DetachAllLocked(WaitStatus.Completed);
                completion = _completion;
            }
        }

        // The detached waiters are reachable only from here now; each is woken once.
        for (Waiter<T>? w = putters; w is not null;)
        {
            Waiter<T>? next = w.Next;
            w.Next = null;
            w.Value = default!;
            w.Error = DualThrow.CompletedForPut(error);
            w.Signal();
            w = next;
        }

        for (Waiter<TOut>? w = takers; w is not null;)
        {
            Waiter<TOut>? next = w.Next;
            w.Next = null;
            w.Error = DualThrow.CompletedForTake(error);
            w.Signal();
            w = next;
        }

        SignalAll(writers, false, error is null ? null : DualThrow.CompletedForPut);
        SignalAll(readers, false, error is null ? null : DualThrow.CompletedForTake);
        if (completion is not null)
        {
            SetCompletion(completion);
        }

        return true;

        void SignalAll(Waiter<bool>? first, bool value, Func<Exception?, Exception>? makeError)
        {
            for (Waiter<bool>? w = first; w is not null;)
            {
                Waiter<bool>? next = w.Next;
                w.Next = null;
                w.Value = value;
                w.Error = makeError?.Invoke(error);
                w.Signal();
                w = next;
            }
        }
    }

    // ------------------------------------------------------------------ core

    /// <summary>Decides what a put does right now; the waking and the callback are left for after the lock.</summary>
    private PutOutcome PutLocked(T item, ref AfterPut after)
    {
        if (_completed)
        {
            return PutOutcome.Completed;
        }

        Waiter<TOut>? taker = _takers.DequeueLocked();
        if (taker is not null)
        {
            taker.Value = _store.Project(item);
            after.Taker = taker;
            return PutOutcome.Done;
        }

        if (_store.Count < _capacity)
        {
            _store.Add(item);
            if (_readWaiters is { IsEmpty: false } readers)
            {
                after.Readers = readers.DetachAllLocked(WaitStatus.Granted);
            }

            return PutOutcome.Done;
        }

        switch (_fullMode)
        {
            case QueueFullMode.DropOldest:
                after.Dropped = _store.TakeOldest();
                after.HasDropped = true;
                _store.Add(item);
                return PutOutcome.Done;
            case QueueFullMode.DropNewest:
                after.Dropped = item;
                after.HasDropped = true;
                return PutOutcome.Done;
            default:
                return PutOutcome.Full;
        }
    }

    private void FinishPut(ref AfterPut after)
    {
        after.Taker?.Signal();
        for (Waiter<bool>? w = after.Readers; w is not null;)
        {
            Waiter<bool>? next = w.Next;
            w.Next = null;
            w.Value = true;
            w.Signal();
            w = next;
        }

        if (after.HasDropped)
        {
            _onDropped?.Invoke(after.Dropped);
        }
    }

    /// <summary>Takes the next item, if any, and refills the freed room from the oldest waiting putter.</summary>
    private bool TakeLocked([MaybeNullWhen(false)] out TOut item, ref AfterTake after)
    {
        if (_store.Count == 0)
        {
            item = default;
            return false;
        }

        item = _store.Take();
        Waiter<T>? putter = _putters.DequeueLocked();
        if (putter is not null)
        {
            _store.Add(putter.Value);
            putter.Value = default!;
            after.Putter = putter;
        }
        else if (_writeWaiters is { IsEmpty: false } writers)
        {
            after.Writers = writers.DetachAllLocked(WaitStatus.Granted);
        }

        if (_completed && _store.Count == 0)
        {
            _drained = true;
            after.Completion = _completion;
        }

        return true;
    }

    private void FinishTake(ref AfterTake after)
    {
        after.Putter?.Signal();
        for (Waiter<bool>? w = after.Writers; w is not null;)
        {
            Waiter<bool>? next = w.Next;
            w.Next = null;
            w.Value = true;
            w.Signal();
            w = next;
        }

        if (after.Completion is not null)
        {
            SetCompletion(after.Completion);
        }
    }

    private void SetCompletion(TaskCompletionSource completion) => DualThrow.Complete(completion, _error);

    /// <summary>
    /// A put or take just queued an async waiter (the lock is released, the caller has not got its
    /// task yet): while a listener is subscribed, the wait is timed, and recorded when the caller
    /// reads the outcome.
    /// </summary>
    private void StartTiming<TValue>(AsyncWaiter<TValue> waiter)
    {
        if (DualColorMetrics.WaitDuration.Enabled)
        {
            waiter.WaitStart = _time.GetTimestamp();
            waiter.Timed = true;
        }
    }

    /// <summary>
    /// Blocks until the waiter is removed from its list by a grant, completion, timeout or
    /// cancellation, and returns how it ended. Holds no lock while blocked.
    /// </summary>
    private static WaitStatus WaitBlocking<TValue>(WaiterList<TValue> list, BlockingWaiter<TValue> waiter, TimeoutTimer<TValue>? timer, TimeSpan timeout, CancellationToken cancellationToken)
    {
        bool signaled;
        bool canceled = false;
        ExceptionDispatchInfo? interrupt = null;
        try
        {
            // An injected clock's timer (armed at the call) ends the wait; on the system clock the
            // wait handle times it.
            signaled = waiter.Wait(timer is null ? timeout : Timeout.InfiniteTimeSpan, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            signaled = false;
            canceled = true;
        }
        catch (ThreadInterruptedException e)
        {
            signaled = false;
            interrupt = ExceptionDispatchInfo.Capture(e);
        }
        finally
        {
            timer?.Dispose();
        }

        bool interrupted = false;
        if (interrupt is not null && list.TryRemove(waiter, WaitStatus.Canceled))
        {
            // Interrupted before anything was handed over: leave the line and let it propagate.
            waiter.Return();
            interrupt.Throw();
        }

        if (!signaled && (interrupt is not null || !list.TryRemove(waiter, canceled ? WaitStatus.Canceled : WaitStatus.TimedOut)))
        {
            // Someone else removed the waiter first (a grant, completion, or the clock's timeout)
            // and is about to wake it: that outcome stands, so a granted item is never lost. An
            // interrupt that came just then is raised again for the thread's next blocking call.
            interrupted = WaitForSignalUninterrupted(waiter) || interrupt is not null;
        }

        if (interrupted)
        {
            Thread.CurrentThread.Interrupt();
        }

        return waiter.Status;
    }

    private static bool WaitForSignalUninterrupted<TValue>(BlockingWaiter<TValue> waiter)
    {
        bool interrupted = false;
        while (true)
        {
            try
            {
                waiter.WaitForSignal();
                return interrupted;
            }
            catch (ThreadInterruptedException)
            {
                interrupted = true;
            }
        }
    }

    private struct AfterPut
    {
        internal Waiter<TOut>? Taker;
        internal Waiter<bool>? Readers;
        internal T Dropped;
        internal bool HasDropped;
    }

    private struct AfterTake
    {
        internal Waiter<T>? Putter;
        internal Waiter<bool>? Writers;
        internal TaskCompletionSource? Completion;
    }
}
