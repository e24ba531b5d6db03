using System.Runtime.CompilerServices;

namespace AsyncUtils;

/// <summary>
/// An executor bound to the <see cref="SynchronizationContext"/> that is current when it is
/// created (the thread pool when there is none): submitted functions and Map calls run there,
/// at most <see cref="MaxConcurrency"/> at a time. The rendering of the Python library async-utils' <c>CurrentLoopExecutor</c>.
/// </summary>
/// <remarks>
/// <para>
/// <b>Where calls run.</b> A call that gets a slot at once, submitted from the executor's own
/// context, starts synchronously inside <see cref="Submit(Func{CancellationToken, Task})"/>, like
/// calling an async method. Any other call is posted to the context (or queued to the thread
/// pool) with the submitter's <see cref="ExecutionContext"/>.
/// </para>
/// <para>
/// <b>Concurrency cap.</b> Submitted calls and Map items share the cap; waiting calls start in
/// FIFO order as slots free up. A Map lane that may not take another item (the consumer is
/// behind) gives its slot back while it waits.
/// </para>
/// <para>
/// <b>Map</b> pulls its input lazily: a lane takes one item at a time from the source, and at most
/// twice the window of items (<c>lookAhead</c> for the ordered forms) are taken and not yet
/// consumed, running or waiting for the consumer, so memory is O(window), not O(input).
/// A failing item becomes that item's <see cref="MapResult{TSource, TResult}"/> and the others go
/// on. Stopping the iteration early, or cancelling its token, cancels the Map's calls and waits
/// for them before the iteration ends. <see cref="MapFailFast{TSource, TResult}"/> and
/// <see cref="MapOrderedFailFast{TSource, TResult}"/> end at the first failure instead (cancelling
/// the running calls and throwing it); <see cref="MapAsTasks{TSource, TResult}"/> yields completed
/// tasks in completion order.
/// </para>
/// <para>
/// <b>Closing.</b> <see cref="DisposeAsync"/> refuses new work and waits for every call already
/// submitted (queued ones still run); a running Map takes no new items and ends its iteration with
/// <see cref="ObjectDisposedException"/> after the results it has. <see cref="CancelAndShutdownAsync"/>
/// also cancels the token of running calls and drops queued ones (their tasks end cancelled).
/// Submitting after either throws <see cref="ObjectDisposedException"/>.
/// </para>
/// <para><b>Thread safety.</b> Every member may be called from any thread.</para>
/// <para>
/// <b>Metrics.</b> The <c>AsyncUtils.BackgroundTasks</c> meter publishes
/// <c>asyncutils.executor.in_flight</c> and <c>asyncutils.executor.waiting</c> (observable, read
/// only when a listener collects) and <c>asyncutils.executor.faults</c> (calls and Map items that
/// failed, counted only while a listener is subscribed), tagged <c>asyncutils.executor.name</c>
/// with <see cref="Name"/> when it is set. A listener that throws is ignored.
/// </para>
/// </remarks>
public sealed class CurrentContextExecutor : IAsyncDisposable
{
    private static readonly SendOrPostCallback RunPosted = static state => ((ISubmittedCall)state!).Run();

    private readonly SynchronizationContext? _context;
    private readonly TaskScheduler _scheduler;
    private readonly int _cap;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly object _gate = new();
    private SlotWaiter? _firstWaiter;
    private SlotWaiter? _lastWaiter;
    private int _waiterCount;
    private int _running;
    private int _outstanding;
    private volatile bool _closed;
    private TaskCompletionSource? _idle;

    /// <summary>Creates an executor without a concurrency cap, bound to the current context.</summary>
    public CurrentContextExecutor()
        : this(int.MaxValue)
    {
    }

    /// <summary>Creates an executor that runs at most <paramref name="maxConcurrency"/> calls at once, bound to the current context.</summary>
    /// <param name="maxConcurrency">The cap; greater than zero.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxConcurrency"/> is zero or negative.</exception>
    public CurrentContextExecutor(int maxConcurrency)
        : this(maxConcurrency, null)
    {
    }

    /// <summary>Creates an executor with a name for its metrics, bound to the current context.</summary>
    /// <param name="maxConcurrency">The cap; greater than zero; <see cref="int.MaxValue"/> for none.</param>
    /// <param name="name">The <c>asyncutils.executor.name</c> tag of this executor's metrics; <see langword="null"/> for none.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxConcurrency"/> is zero or negative.</exception>
    public CurrentContextExecutor(int maxConcurrency, string? name)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxConcurrency);
        _cap = maxConcurrency;
        SynchronizationContext? current = SynchronizationContext.Current;
        _context = current is not null && current.GetType() != typeof(SynchronizationContext) ? current : null;
        _scheduler = _context is null ? TaskScheduler.Default : TaskScheduler.FromCurrentSynchronizationContext();
        Name = name;
        BackgroundTasksMetrics.Executors.Add(this);
    }

    /// <summary>The cap on concurrent calls, or <see langword="null"/> for none.</summary>
    public int? MaxConcurrency => _cap == int.MaxValue ? null : _cap;

    /// <summary>
    /// The name given to the constructor, added as the <c>asyncutils.executor.name</c> tag to this
    /// executor's metrics so that several executors can be told apart; <see langword="null"/> for none.
    /// </summary>
    public string? Name { get; }

    /// <summary>The number of calls submitted and not yet finished, plus running Map lanes.</summary>
    public int OutstandingCount => Volatile.Read(ref _outstanding);

    internal bool IsClosed => _closed;

    /// <summary>Calls and lanes holding a slot, for <c>asyncutils.executor.in_flight</c> (a lock-free read).</summary>
    internal long RunningForMetrics => Volatile.Read(ref _running);

    /// <summary>Calls and lanes waiting for a slot, for <c>asyncutils.executor.waiting</c> (a lock-free read).</summary>
    internal long WaitingForMetrics => Volatile.Read(ref _waiterCount);

    internal CancellationToken ShutdownToken => _shutdown.Token;

    /// <summary>The number of calls and Map lanes queued for a slot; for tests.</summary>
    internal int WaiterCount
    {
        get
        {
            lock (_gate)
            {
                return _waiterCount;
            }
        }
    }

    /// <summary>Submits a call; it receives a token cancelled only by <see cref="CancelAndShutdownAsync"/>.</summary>
    /// <param name="function">The call.</param>
    /// <returns>A task that completes as the call does.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The executor is closed.</exception>
    public Task Submit(Func<CancellationToken, Task> function)
    {
        ArgumentNullException.ThrowIfNull(function);
        var call = new SubmittedCall<object?>(this, function, hasResult: false);
        Enqueue(call);
        return call.Task;
    }

    /// <summary>Submits a call with a result; it receives a token cancelled only by <see cref="CancelAndShutdownAsync"/>.</summary>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="function">The call.</param>
    /// <returns>A task for the call's result.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The executor is closed.</exception>
    public Task<TResult> Submit<TResult>(Func<CancellationToken, Task<TResult>> function)
    {
        ArgumentNullException.ThrowIfNull(function);
        var call = new SubmittedCall<TResult>(this, function, hasResult: true);
        Enqueue(call);
        return call.Task;
    }

    /// <summary>
    /// Calls <paramref name="function"/> for each item of <paramref name="source"/>, at most a
    /// window at a time (the executor's cap, or the processor count when it has none), and yields
    /// each outcome as it completes. The input is pulled lazily; memory is O(window).
    /// </summary>
    /// <typeparam name="TSource">The input item type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="source">The input; enumerated once, under a lock, one item per free lane.</param>
    /// <param name="function">The call for one item; receives a token cancelled when the iteration stops early or the executor is shut down with cancellation.</param>
    /// <param name="cancellationToken">Stops the iteration and cancels its calls.</param>
    /// <returns>The outcomes in completion order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="source"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The executor is closed.</exception>
    public IAsyncEnumerable<MapResult<TSource, TResult>> Map<TSource, TResult>(
        IEnumerable<TSource> source, Func<TSource, CancellationToken, Task<TResult>> function, CancellationToken cancellationToken = default)
    {
        return StartMap(source, function, lookAhead: null, failFast: false, cancellationToken);
    }

    /// <summary>
    /// Like <see cref="Map{TSource, TResult}"/>, but yields the outcomes in input order. At most
    /// <paramref name="lookAhead"/> items are started past the oldest one not yet yielded, so one
    /// slow item holds back at most that many finished results.
    /// </summary>
    /// <typeparam name="TSource">The input item type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="source">The input; enumerated once, under a lock, one item per free lane.</param>
    /// <param name="function">The call for one item; receives a token cancelled when the iteration stops early or the executor is shut down with cancellation.</param>
    /// <param name="lookAhead">How far past the oldest unfinished item the Map may run; greater than zero.</param>
    /// <param name="cancellationToken">Stops the iteration and cancels its calls.</param>
    /// <returns>The outcomes in input order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="source"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="lookAhead"/> is zero or negative.</exception>
    /// <exception cref="ObjectDisposedException">The executor is closed.</exception>
    public IAsyncEnumerable<MapResult<TSource, TResult>> MapOrdered<TSource, TResult>(
        IEnumerable<TSource> source, Func<TSource, CancellationToken, Task<TResult>> function, int lookAhead, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(lookAhead);
        return StartMap(source, function, lookAhead, failFast: false, cancellationToken);
    }

    /// <summary>
    /// Like <see cref="Map{TSource, TResult}"/>, but the first failing item ends the iteration
    /// (the asynchronous iteration of the Python library async-utils' <c>map</c>, which raises on
    /// the first failure): every outcome yielded is a success.
    /// </summary>
    /// <remarks>
    /// When an item fails, the Map takes no new item from <paramref name="source"/>, cancels the
    /// token of the calls still running, waits for them to finish, and then, after the successes
    /// that were already waiting for the consumer, throws that item's exception, unwrapped and
    /// with its own stack trace. "First" is the first to finish with an exception. The other
    /// calls' outcomes after it (their successes, their failures, the
    /// <see cref="OperationCanceledException"/>s the cancellation causes) are dropped, observed
    /// and never thrown. An <see cref="OperationCanceledException"/> from a call whose token was
    /// not cancelled (an <c>HttpClient</c> timeout) is a failure like any other. The
    /// iteration's own end is as for <see cref="Map{TSource, TResult}"/>: an exception from
    /// <paramref name="source"/> itself, <see cref="OperationCanceledException"/> for
    /// <paramref name="cancellationToken"/>, <see cref="ObjectDisposedException"/> when the
    /// executor closes; whichever comes first wins.
    /// </remarks>
    /// <typeparam name="TSource">The input item type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="source">The input; enumerated once, under a lock, one item per free lane.</param>
    /// <param name="function">The call for one item; receives a token cancelled when an item fails, the iteration stops early or the executor is shut down with cancellation.</param>
    /// <param name="cancellationToken">Stops the iteration and cancels its calls.</param>
    /// <returns>The successful outcomes in completion order, up to the first failure.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="source"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The executor is closed.</exception>
    public IAsyncEnumerable<MapResult<TSource, TResult>> MapFailFast<TSource, TResult>(
        IEnumerable<TSource> source, Func<TSource, CancellationToken, Task<TResult>> function, CancellationToken cancellationToken = default)
    {
        return StartMap(source, function, lookAhead: null, failFast: true, cancellationToken);
    }

    /// <summary>
    /// Like <see cref="MapOrdered{TSource, TResult}"/>, but the first failing item ends the
    /// iteration, as in <see cref="MapFailFast{TSource, TResult}"/>: the outcomes are yielded in
    /// input order up to the first one missing (the failed item, or one cancelled or dropped
    /// because of it), then the failure is thrown.
    /// </summary>
    /// <typeparam name="TSource">The input item type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="source">The input; enumerated once, under a lock, one item per free lane.</param>
    /// <param name="function">The call for one item; receives a token cancelled when an item fails, the iteration stops early or the executor is shut down with cancellation.</param>
    /// <param name="lookAhead">How far past the oldest unfinished item the Map may run; greater than zero.</param>
    /// <param name="cancellationToken">Stops the iteration and cancels its calls.</param>
    /// <returns>The successful outcomes in input order, up to the first gap the failure left.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="source"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="lookAhead"/> is zero or negative.</exception>
    /// <exception cref="ObjectDisposedException">The executor is closed.</exception>
    public IAsyncEnumerable<MapResult<TSource, TResult>> MapOrderedFailFast<TSource, TResult>(
        IEnumerable<TSource> source, Func<TSource, CancellationToken, Task<TResult>> function, int lookAhead, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(lookAhead);
        return StartMap(source, function, lookAhead, failFast: true, cancellationToken);
    }

    /// <summary>
    /// Like <see cref="Map{TSource, TResult}"/>, but yields each item's outcome as a completed
    /// task, in completion order (the synchronous iteration of the Python library async-utils'
    /// <c>map</c>, like <c>asyncio.as_completed</c>): <see langword="await"/> it for the value or
    /// the item's exception. A failing item does not stop the others.
    /// </summary>
    /// <remarks>
    /// Every task yielded has already completed: successfully, faulted with the item's exception,
    /// or cancelled when the call ended with an <see cref="OperationCanceledException"/>. Laziness,
    /// the window and the early-stop rules are those of <see cref="Map{TSource, TResult}"/>: the
    /// tasks are made one at a time as the consumer asks, so memory stays O(window).
    /// </remarks>
    /// <typeparam name="TSource">The input item type.</typeparam>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="source">The input; enumerated once, under a lock, one item per free lane.</param>
    /// <param name="function">The call for one item; receives a token cancelled when the iteration stops early or the executor is shut down with cancellation.</param>
    /// <param name="cancellationToken">Stops the iteration and cancels its calls.</param>
    /// <returns>Completed tasks in completion order.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="source"/> or <paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The executor is closed.</exception>
    public IAsyncEnumerable<Task<TResult>> MapAsTasks<TSource, TResult>(
        IEnumerable<TSource> source, Func<TSource, CancellationToken, Task<TResult>> function, CancellationToken cancellationToken = default)
    {
        IAsyncEnumerable<MapResult<TSource, TResult>> outcomes = Map(source, function, cancellationToken);
        return AsTasks(outcomes, cancellationToken);
    }

    /// <summary>
    /// The Python library async-utils' <c>force_cancel_and_shutdown</c>: refuses new work, cancels the token of running
    /// calls, drops queued ones (their tasks end cancelled) and waits for the running ones to finish.
    /// </summary>
    /// <returns>A task that completes when no call is running.</returns>
    public async Task CancelAndShutdownAsync()
    {
        _closed = true;

        // Cancel first, so that a Map lane whose wait for a slot is rejected below sees its token
        // cancelled and ends quietly.
        await _shutdown.CancelAsync().ConfigureAwait(false);
        List<SlotWaiter> dropped = [];
        lock (_gate)
        {
            while (DequeueWaiter() is { } waiter)
            {
                dropped.Add(waiter);
            }
        }

        foreach (SlotWaiter waiter in dropped)
        {
            waiter.Reject();
        }

        await WaitIdleAsync().ConfigureAwait(false);
    }

    /// <summary>Refuses new work and waits for every call already submitted, queued ones included.</summary>
    /// <returns>A task that completes when every submitted call has finished.</returns>
    public async ValueTask DisposeAsync()
    {
        _closed = true;
        await WaitIdleAsync().ConfigureAwait(false);
    }

    internal void Dispatch(ISubmittedCall call)
    {
        if (_context is null)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static call => call.Run(), call, preferLocal: false);
        }
        else
        {
            _context.Post(RunPosted, call);
        }
    }

    /// <summary>Gives a slot back: it passes straight to the first waiter, or becomes free. Iterative, never recursive.</summary>
    internal void ReleaseSlot()
    {
        while (true)
        {
            SlotWaiter? next;
            lock (_gate)
            {
                next = DequeueWaiter();
                if (next is null)
                {
                    _running--;
                    return;
                }
            }

            if (next.Grant())
            {
                return;
            }

            // The waiter could not take the slot: hand it to the next one, in this loop.
        }
    }

    /// <summary>Takes a cancelled waiter out of the queue in O(1).</summary>
    /// <returns><see langword="true"/> if it was still queued; <see langword="false"/> if a grant or a rejection took it first.</returns>
    internal bool TryRemoveWaiter(SlotWaiter waiter)
    {
        lock (_gate)
        {
            if (!waiter.Queued)
            {
                return false;
            }

            Unlink(waiter);
            return true;
        }
    }

    /// <summary>
    /// Takes a slot: at once when one is free, otherwise after the waiters ahead. A cancelled
    /// token takes the waiter out of the queue at once.
    /// </summary>
    /// <returns><see langword="true"/> when the caller holds a slot; <see langword="false"/> when its token was cancelled or the executor shut down first.</returns>
    internal ValueTask<bool> AcquireSlotAsync(CancellationToken cancellationToken)
    {
        LaneWaiter waiter;
        lock (_gate)
        {
            if (_running < _cap)
            {
                _running++;
                return new ValueTask<bool>(true);
            }

            if (cancellationToken.IsCancellationRequested)
            {
                return new ValueTask<bool>(false);
            }

            waiter = new LaneWaiter(this);
            EnqueueWaiter(waiter);
        }

        return WaitForSlotAsync(waiter, cancellationToken);
    }

    /// <summary>A call or a Map item failed; counted only while a listener is subscribed. Never inside the lock.</summary>
    internal void RecordFault() => BackgroundTasksMetrics.AddFaults(BackgroundTasksMetrics.ExecutorFaults, 1, BackgroundTasksMetrics.ExecutorNameTag, Name);

    internal void FinishOutstanding()
    {
        TaskCompletionSource? idle = null;
        lock (_gate)
        {
            if (--_outstanding == 0)
            {
                idle = _idle;
                _idle = null;
            }
        }

        idle?.TrySetResult();
    }

    private void ThrowIfClosed()
    {
        if (_closed)
        {
            throw new ObjectDisposedException(nameof(CurrentContextExecutor), "The executor is closed; it accepts no new work.");
        }
    }

    private void Enqueue<TResult>(SubmittedCall<TResult> call)
    {
        bool startNow;
        lock (_gate)
        {
            ThrowIfClosed();
            _outstanding++;
            startNow = _running < _cap;
            if (startNow)
            {
                _running++;
            }
            else
            {
                call.CaptureExecutionContext();
                EnqueueWaiter(call);
            }
        }

        if (startNow)
        {
            if (SynchronizationContext.Current == _context)
            {
                call.Run();
            }
            else
            {
                call.CaptureExecutionContext();
                Dispatch(call);
            }
        }
    }

    private async Task WaitIdleAsync()
    {
        Task idle;
        lock (_gate)
        {
            if (_outstanding == 0)
            {
                return;
            }

            idle = (_idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }

        await idle.ConfigureAwait(false);
    }

    private static async ValueTask<bool> WaitForSlotAsync(LaneWaiter waiter, CancellationToken cancellationToken)
    {
        using (cancellationToken.UnsafeRegister(static state => ((LaneWaiter)state!).Cancel(), waiter))
        {
            await waiter.Task.ConfigureAwait(ConfigureAwaitOptions.ContinueOnCapturedContext | ConfigureAwaitOptions.SuppressThrowing);
        }

        return waiter.Task.IsCompletedSuccessfully;
    }

    private void EnqueueWaiter(SlotWaiter waiter)
    {
        waiter.Queued = true;
        waiter.Previous = _lastWaiter;
        if (_lastWaiter is null)
        {
            _firstWaiter = waiter;
        }
        else
        {
            _lastWaiter.Next = waiter;
        }

        _lastWaiter = waiter;
        _waiterCount++;
    }

    private SlotWaiter? DequeueWaiter()
    {
        SlotWaiter? first = _firstWaiter;
        if (first is not null)
        {
            Unlink(first);
        }

        return first;
    }

    private void Unlink(SlotWaiter waiter)
    {
        if (waiter.Previous is null)
        {
            _firstWaiter = waiter.Next;
        }
        else
        {
            waiter.Previous.Next = waiter.Next;
        }

        if (waiter.Next is null)
        {
            _lastWaiter = waiter.Previous;
        }
        else
        {
            waiter.Next.Previous = waiter.Previous;
        }

        waiter.Previous = waiter.Next = null;
        waiter.Queued = false;
        _waiterCount--;
    }

    /// <summary>
    /// The one entry of every Map: checks the arguments, then sizes it. Lanes: the cap (the
    /// processor count without one), at most <paramref name="lookAhead"/>. Window (items taken and
    /// not yet consumed): <paramref name="lookAhead"/> in input order; in completion order a lane's
    /// item each plus as many results waiting for the consumer.
    /// </summary>
    private IAsyncEnumerable<MapResult<TSource, TResult>> StartMap<TSource, TResult>(
        IEnumerable<TSource> source, Func<TSource, CancellationToken, Task<TResult>> function, int? lookAhead, bool failFast, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(function);
        ThrowIfClosed();
        int lanes = _cap == int.MaxValue ? Environment.ProcessorCount : _cap;
        if (lookAhead is { } ahead)
        {
            return MapCore(source, function, Math.Min(lanes, ahead), ahead, ordered: true, failFast, cancellationToken);
        }

        return MapCore(source, function, lanes, lanes > int.MaxValue / 2 ? int.MaxValue : 2 * lanes, ordered: false, failFast, cancellationToken);
    }

    private async IAsyncEnumerable<MapResult<TSource, TResult>> MapCore<TSource, TResult>(
        IEnumerable<TSource> source,
        Func<TSource, CancellationToken, Task<TResult>> function,
        int lanes,
        int window,
        bool ordered,
        bool failFast,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token);
        using var map = new MapState<TSource, TResult>(this, source, function, lanes, window, ordered, failFast, linked);
        lock (_gate)
        {
            ThrowIfClosed();
            _outstanding += lanes;
        }

        var running = new Task[lanes];
        for (int i = 0; i < lanes; i++)
        {
            // Lanes start on the executor's context (posted there), whatever context the consumer is on.
            running[i] = Task.Factory.StartNew(
                static state =>
                {
                    (CurrentContextExecutor executor, MapState<TSource, TResult> lane) = ((CurrentContextExecutor, MapState<TSource, TResult>))state!;
                    return executor.RunLaneAsync(lane);
                },
                (this, map),
                CancellationToken.None,
                TaskCreationOptions.DenyChildAttach,
                _scheduler).Unwrap();
        }

        try
        {
            while (true)
            {
                if (map.TryNext(out MapResult<TSource, TResult> result, out bool ended))
                {
                    yield return result;
                    continue;
                }

                if (ended)
                {
                    break;
                }

                cancellationToken.ThrowIfCancellationRequested();
                await map.WaitAsync().ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
        finally
        {
            // Stopped early (break, cancellation, error): cancel the calls still running and wait
            // for the lanes, so no call outlives the iteration.
            await linked.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(running).ConfigureAwait(false);
        }
    }

    private static async IAsyncEnumerable<Task<TResult>> AsTasks<TSource, TResult>(
        IAsyncEnumerable<MapResult<TSource, TResult>> outcomes, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (MapResult<TSource, TResult> outcome in outcomes.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (outcome.IsSuccess)
            {
                yield return Task.FromResult(outcome.Value);
            }
            else if (outcome.Exception is OperationCanceledException canceled)
            {
                var task = new TaskCompletionSource<TResult>();
                task.SetCanceled(canceled.CancellationToken);
                yield return task.Task;
            }
            else
            {
                yield return Task.FromException<TResult>(outcome.Exception!);
            }
        }
    }

    private async Task RunLaneAsync<TSource, TResult>(MapState<TSource, TResult> map)
    {
        var signal = new MapSignal();
        bool holding = false;
        bool hasResult = false;
        MapResult<TSource, TResult> result = default;
        try
        {
            while (true)
            {
                if (!holding)
                {
                    if (!await AcquireSlotAsync(map.Token).ConfigureAwait(true))
                    {
                        return; // the iteration stopped or the executor shut down while the lane waited
                    }

                    holding = true;
                }

                // One lock per item: hand on the last result and take the next item.
                TakeOutcome outcome = map.StoreAndTake(hasResult, result, signal, out long index, out TSource item);
                hasResult = false;
                result = default;
                if (outcome == TakeOutcome.End)
                {
                    return;
                }

                if (outcome == TakeOutcome.NoRoom)
                {
                    // The consumer is behind: give the slot back while parked.
                    ReleaseSlot();
                    holding = false;
                    await signal.WaitAsync().ConfigureAwait(true);
                    continue;
                }

                try
                {
                    Task<TResult> call = map.Function(item, map.Token) ?? throw new InvalidOperationException("The function returned a null task.");
                    if (!call.IsCompleted)
                    {
                        map.CallWentAsync();
                    }

                    result = new MapResult<TSource, TResult>(index, item, await call.ConfigureAwait(true), null);
                }
                catch (Exception ex)
                {
                    result = new MapResult<TSource, TResult>(index, item, default!, ex);
                    if (ex is not OperationCanceledException)
                    {
                        RecordFault();
                    }
                }

                if (map.FailFast)
                {
                    if (!result.IsSuccess)
                    {
                        map.Fail(result.Exception!);
                        result = default;
                        continue; // the next take sees the end
                    }

                    if (map.Ending)
                    {
                        result = default;
                        continue; // finished after the failure: dropped, and the next take sees the end
                    }
                }

                hasResult = true;
            }
        }
        catch (OperationCanceledException) when (map.Token.IsCancellationRequested)
        {
            // The iteration stopped or the executor shut down: the lane ends.
        }
        finally
        {
            if (holding)
            {
                ReleaseSlot();
            }

            map.LaneEnded();
            FinishOutstanding();
        }
    }
}
