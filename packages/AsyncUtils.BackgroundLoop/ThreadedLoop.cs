using Nito.AsyncEx;

namespace AsyncUtils;

/// <summary>
/// A single-threaded async loop on a dedicated, named thread: work scheduled here runs on that
/// thread, and so does every continuation of its <see langword="await"/>s (the thread's
/// <see cref="SynchronizationContext"/> is an <see cref="AsyncContext"/> from Nito.AsyncEx.Context).
/// The rendering of the Python library async-utils' <c>threaded_loop()</c>.
/// </summary>
/// <remarks>
/// <para>
/// <b>Thread safety.</b> Every member may be called from any thread, including the loop thread,
/// except the three that would wait for the loop from the loop itself: <see cref="Dispose"/>,
/// <see cref="DisposeAsync"/> and <see cref="WaitAll"/>/<see cref="WaitAllAsync"/> throw
/// <see cref="InvalidOperationException"/> there instead of deadlocking.
/// </para>
/// <para>
/// <b>Order.</b> Work starts in the order it was scheduled (one FIFO queue shared with the
/// continuations of work already running). Tasks returned to callers complete with
/// asynchronous continuations, so a caller's code never runs on the loop thread because the loop
/// completed its task.
/// </para>
/// <para>
/// <b>Cancellation.</b> Each function receives a token that is cancelled by
/// <see cref="CancelAll"/>, by disposal when work outlives <see cref="ThreadedLoopOptions.DisposeTimeout"/>,
/// and by the caller's own token when one was given. Work whose token is cancelled before it
/// starts does not start; its task ends as cancelled. One rule, for synchronous and asynchronous
/// work alike: work that throws <see cref="OperationCanceledException"/> (or whose task ends
/// cancelled) while its token is cancelled ends as cancelled; any other cancellation (an
/// <c>HttpClient</c> timeout, some other token) is a fault like any exception.
/// </para>
/// <para>
/// <b>Faults.</b> A scheduled function's exception goes to its task (faulted). A posted function's
/// exception, and an exception escaping an <see langword="async"/> <see langword="void"/> method on
/// the loop, go to <see cref="UnhandledException"/>, raised on the loop thread even when the
/// function's last step ran elsewhere, and the loop goes on (a plain
/// <c>AsyncContextThread</c> dies on them). Faults that arrive while no handler is subscribed,
/// and exceptions thrown by a handler, are kept and thrown by disposal as one
/// <see cref="AggregateException"/>, so none is lost silently.
/// </para>
/// <para>
/// <b>Disposal</b> waits for outstanding work (up to <see cref="ThreadedLoopOptions.DisposeTimeout"/>),
/// cancels the tokens of whatever is left and lets it unwind (up to
/// <see cref="ThreadedLoopOptions.CancellationGracePeriod"/>), stops the loop, ends the tasks of
/// work that never finished as cancelled, joins the thread, and then throws the kept faults, if
/// any. While it waits, work running on the loop may still schedule more (it is waited for
/// too); other threads get <see cref="ObjectDisposedException"/>. Loop work must not wait for
/// the loop's disposal, not even one started on another thread
/// (<c>await Task.Run(() =&gt; loop.DisposeAsync().AsTask())</c>): the disposal waits for that
/// work, so with the default infinite <see cref="ThreadedLoopOptions.DisposeTimeout"/> both wait
/// forever; with a finite one the work is cancelled, then abandoned after the grace period. To
/// shut the loop down from its own work, signal its owner and let the owner dispose it.
/// </para>
/// <para>
/// <b>Another context.</b> <see cref="ThreadedLoopOptions.SynchronizationContextFactory"/> (the
/// Python library async-utils' <c>loop_factory</c>) lets loop work run under a context of the
/// caller's making that decorates the loop's own; the loop's queue and guarantees stay.
/// </para>
/// <para>
/// <b>Cost.</b> Scheduling takes one short lock and queues one task to the loop; a round trip is
/// dominated by waking the loop thread.
/// </para>
/// <para>
/// <b>Metrics.</b> The <c>AsyncUtils.BackgroundLoop</c> meter publishes
/// <c>asyncutils.loop.queue.depth</c> (functions waiting to start; kept only while a listener is
/// subscribed, so work queued before it is not counted), <c>asyncutils.loop.outstanding</c>
/// (<see cref="OutstandingCount"/>), both observable, and <c>asyncutils.loop.faults</c> (each
/// exception that goes to <see cref="UnhandledException"/>, counted only while a listener is
/// subscribed), tagged <c>asyncutils.loop.name</c> with <see cref="ThreadedLoopOptions.ThreadName"/>
/// when one was given. A listener that throws is ignored.
/// </para>
/// </remarks>
public sealed class ThreadedLoop : IDisposable, IAsyncDisposable
{
    private const int Running = 0;
    private const int Draining = 1;
    private const int Stopping = 2;

    private readonly AsyncContext _context;
    private readonly TaskScheduler _scheduler;
    private readonly Thread _thread;
    private readonly TimeProvider _time;
    private readonly TimeSpan _disposeTimeout;
    private readonly TimeSpan _gracePeriod;
    private readonly OperationCanceledException _stopSignal = new("The loop is stopping.");
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _gate = new();
    private CancellationTokenSource _cancelAll = new();
    private LoopWork? _head;
    private int _outstanding;
    private int _queued;
    private int _enqueuing;
    private int _state;
    private TaskCompletionSource? _idle;
    private List<Exception>? _unreported;
    private TaskCompletionSource<Exception?>? _disposal;
    private bool _stopPosted;
    private SynchronizationContext? _workContext;

    /// <summary>Starts a loop on a new background thread named <c>"AsyncUtils.ThreadedLoop"</c>.</summary>
    public ThreadedLoop()
        : this(null)
    {
    }

    /// <summary>Starts a loop on a new background thread.</summary>
    /// <param name="options">Thread name, disposal timeouts and clock; copied, may be <see langword="null"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">A timeout in <paramref name="options"/> is negative (other than <see cref="Timeout.InfiniteTimeSpan"/>).</exception>
    /// <exception cref="InvalidOperationException"><see cref="ThreadedLoopOptions.SynchronizationContextFactory"/> threw (the <see cref="Exception.InnerException"/>) or returned <see langword="null"/>; no loop was started.</exception>
    public ThreadedLoop(ThreadedLoopOptions? options)
    {
        _disposeTimeout = options?.DisposeTimeout ?? Timeout.InfiniteTimeSpan;
        _gracePeriod = options?.CancellationGracePeriod ?? TimeSpan.FromSeconds(5);
        ValidateTimeout(_disposeTimeout, $"{nameof(options)}.{nameof(ThreadedLoopOptions.DisposeTimeout)}");
        ValidateTimeout(_gracePeriod, $"{nameof(options)}.{nameof(ThreadedLoopOptions.CancellationGracePeriod)}");
        _time = options?.TimeProvider ?? TimeProvider.System;
        Name = options?.ThreadName ?? "AsyncUtils.ThreadedLoop";
        MetricsName = options?.ThreadName;

        _context = new AsyncContext();
        _scheduler = _context.Scheduler;

        // The loop's own hold on the context: Execute never runs dry; the loop stops only when
        // disposal posts the stop signal.
        _context.SynchronizationContext.OperationStarted();
        Func<SynchronizationContext, SynchronizationContext>? factory = options?.SynchronizationContextFactory;
        using ManualResetEventSlim? factoryDone = factory is null ? null : new ManualResetEventSlim();
        Exception? factoryFault = null;
        _thread = new Thread(factory is null ? ThreadMain : () =>
        {
            // On the loop thread, before any work: a context may need to be made on its thread.
            try
            {
                _workContext = factory(_context.SynchronizationContext);
                if (_workContext is null)
                {
                    factoryFault = new InvalidOperationException(
                        $"{nameof(ThreadedLoopOptions)}.{nameof(ThreadedLoopOptions.SynchronizationContextFactory)} returned null; no loop was started.");
                }
            }
            catch (Exception ex)
            {
                factoryFault = new InvalidOperationException(
                    $"{nameof(ThreadedLoopOptions)}.{nameof(ThreadedLoopOptions.SynchronizationContextFactory)} threw; no loop was started. See the inner exception.", ex);
            }

            factoryDone!.Set();
            if (factoryFault is null)
            {
                ThreadMain();
            }
        })
        { IsBackground = true, Name = Name };
        _thread.Start();
        ManagedThreadId = _thread.ManagedThreadId;
        if (factoryDone is not null)
        {
            factoryDone.Wait();
            if (factoryFault is not null)
            {
                _thread.Join();
                _context.Dispose();
                throw factoryFault;
            }

            if (ReferenceEquals(_workContext, _context.SynchronizationContext))
            {
                _workContext = null; // the loop's own: nothing to switch
            }
        }

        BackgroundLoopMetrics.Instances.Add(this);
    }

    /// <summary>The <c>asyncutils.loop.name</c> tag: the thread name when the options gave one.</summary>
    internal string? MetricsName { get; }

    /// <summary>Functions counted as queued and not started yet, for <c>asyncutils.loop.queue.depth</c>.</summary>
    internal long QueuedForMetrics => Volatile.Read(ref _queued);

    /// <summary>The context from <see cref="ThreadedLoopOptions.SynchronizationContextFactory"/> that loop work runs under; <see langword="null"/> for the loop's own.</summary>
    internal SynchronizationContext? WorkContext => _workContext;

    /// <summary>
    /// Raised, on the loop thread, for each exception thrown by posted work (including a
    /// cancellation its token did not cause) or escaping an <see langword="async"/>
    /// <see langword="void"/> method on the loop; also when the work's last step ran off the loop
    /// (the report is queued to the loop). The one exception: posted work abandoned by disposal
    /// that fails after the loop stopped is reported on the thread where it failed. The loop goes
    /// on. If no handler is subscribed, or a handler throws, the exception is kept and thrown by disposal.
    /// </summary>
    public event EventHandler<ThreadedLoopExceptionEventArgs>? UnhandledException;

    /// <summary>The loop thread's name.</summary>
    public string Name { get; }

    /// <summary>The loop thread's managed thread id.</summary>
    public int ManagedThreadId { get; }

    /// <summary>Whether the calling code runs on the loop thread.</summary>
    public bool IsLoopThread => Environment.CurrentManagedThreadId == ManagedThreadId;

    /// <summary>The number of scheduled and posted functions that have not finished yet.</summary>
    public int OutstandingCount => Volatile.Read(ref _outstanding);

    /// <summary>Runs an action on the loop.</summary>
    /// <param name="action">The action; receives the work's token.</param>
    /// <returns>A task for the action's completion.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="action"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop is disposed or being disposed.</exception>
    public Task Schedule(Action<CancellationToken> action) => Schedule(action, CancellationToken.None);

    /// <summary>Runs an action on the loop; <paramref name="cancellationToken"/> is linked into the action's token.</summary>
    /// <param name="action">The action; receives the work's token.</param>
    /// <param name="cancellationToken">Cancels the work: before it starts it does not start; after, its token is cancelled.</param>
    /// <returns>A task for the action's completion.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="action"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop is disposed or being disposed.</exception>
    public Task Schedule(Action<CancellationToken> action, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(action);
        return Enqueue<object?>(action, LoopWorkKind.Action, posted: false, cancellationToken).Task;
    }

    /// <summary>Runs a function on the loop.</summary>
    /// <typeparam name="TResult">The function's result type.</typeparam>
    /// <param name="function">The function; receives the work's token.</param>
    /// <returns>A task for the function's result.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop is disposed or being disposed.</exception>
    public Task<TResult> Schedule<TResult>(Func<CancellationToken, TResult> function) => Schedule(function, CancellationToken.None);

    /// <summary>Runs a function on the loop; <paramref name="cancellationToken"/> is linked into the function's token.</summary>
    /// <typeparam name="TResult">The function's result type.</typeparam>
    /// <param name="function">The function; receives the work's token.</param>
    /// <param name="cancellationToken">Cancels the work: before it starts it does not start; after, its token is cancelled.</param>
    /// <returns>A task for the function's result.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop is disposed or being disposed.</exception>
    public Task<TResult> Schedule<TResult>(Func<CancellationToken, TResult> function, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(function);
        return Enqueue<TResult>(function, LoopWorkKind.Function, posted: false, cancellationToken).Task;
    }

    /// <summary>Runs an asynchronous function on the loop; every continuation of its awaits runs on the loop too.</summary>
    /// <param name="function">The function; receives the work's token.</param>
    /// <returns>A task that completes as the function's task does.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop is disposed or being disposed.</exception>
    public Task Schedule(Func<CancellationToken, Task> function) => Schedule(function, CancellationToken.None);

    /// <summary>Runs an asynchronous function on the loop; <paramref name="cancellationToken"/> is linked into the function's token.</summary>
    /// <param name="function">The function; receives the work's token.</param>
    /// <param name="cancellationToken">Cancels the work: before it starts it does not start; after, its token is cancelled.</param>
    /// <returns>A task that completes as the function's task does.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop is disposed or being disposed.</exception>
    public Task Schedule(Func<CancellationToken, Task> function, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(function);
        return Enqueue<object?>(function, LoopWorkKind.AsyncAction, posted: false, cancellationToken).Task;
    }

    /// <summary>Runs an asynchronous function on the loop; every continuation of its awaits runs on the loop too.</summary>
    /// <typeparam name="TResult">The function's result type.</typeparam>
    /// <param name="function">The function; receives the work's token.</param>
    /// <returns>A task for the function's result.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop is disposed or being disposed.</exception>
    public Task<TResult> Schedule<TResult>(Func<CancellationToken, Task<TResult>> function) => Schedule(function, CancellationToken.None);

    /// <summary>Runs an asynchronous function on the loop; <paramref name="cancellationToken"/> is linked into the function's token.</summary>
    /// <typeparam name="TResult">The function's result type.</typeparam>
    /// <param name="function">The function; receives the work's token.</param>
    /// <param name="cancellationToken">Cancels the work: before it starts it does not start; after, its token is cancelled.</param>
    /// <returns>A task for the function's result.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop is disposed or being disposed.</exception>
    public Task<TResult> Schedule<TResult>(Func<CancellationToken, Task<TResult>> function, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(function);
        return Enqueue<TResult>(function, LoopWorkKind.AsyncFunction, posted: false, cancellationToken).Task;
    }

    /// <summary>Runs an action on the loop and waits for it (the Python library async-utils' <c>run</c>); the same as <see cref="Schedule(Action{CancellationToken})"/>.</summary>
    /// <param name="action">The action; receives the work's token.</param>
    /// <returns>A task for the action's completion.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="action"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop is disposed or being disposed.</exception>
    public Task RunAsync(Action<CancellationToken> action) => Schedule(action, CancellationToken.None);

    /// <summary>
    /// Runs an action on the loop and waits for it. Cancelling <paramref name="cancellationToken"/>
    /// cancels the action's token and ends this wait at once, even if the action ignores its token.
    /// </summary>
    /// <param name="action">The action; receives the work's token.</param>
    /// <param name="cancellationToken">Cancels the work and the wait.</param>
    /// <returns>A task for the action's completion, or cancelled when the caller gave up.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="action"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop is disposed or being disposed.</exception>
    public Task RunAsync(Action<CancellationToken> action, CancellationToken cancellationToken) =>
        WaitOrGiveUp(Schedule(action, cancellationToken), cancellationToken);

    /// <summary>Runs a function on the loop and waits for its result (the Python library async-utils' <c>run</c>); the same as <see cref="Schedule{TResult}(Func{CancellationToken, TResult})"/>.</summary>
    /// <typeparam name="TResult">The function's result type.</typeparam>
    /// <param name="function">The function; receives the work's token.</param>
    /// <returns>A task for the function's result.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop is disposed or being disposed.</exception>
    public Task<TResult> RunAsync<TResult>(Func<CancellationToken, TResult> function) => Schedule(function, CancellationToken.None);

    /// <summary>
    /// Runs a function on the loop and waits for its result. Cancelling <paramref name="cancellationToken"/>
    /// cancels the function's token and ends this wait at once, even if the function ignores its token.
    /// </summary>
    /// <typeparam name="TResult">The function's result type.</typeparam>
    /// <param name="function">The function; receives the work's token.</param>
    /// <param name="cancellationToken">Cancels the work and the wait.</param>
    /// <returns>A task for the function's result, or cancelled when the caller gave up.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop is disposed or being disposed.</exception>
    public Task<TResult> RunAsync<TResult>(Func<CancellationToken, TResult> function, CancellationToken cancellationToken) =>
        WaitOrGiveUp(Schedule(function, cancellationToken), cancellationToken);

    /// <summary>Runs an asynchronous function on the loop and waits for it (the Python library async-utils' <c>run</c>); the same as <see cref="Schedule(Func{CancellationToken, Task})"/>.</summary>
    /// <param name="function">The function; receives the work's token.</param>
    /// <returns>A task that completes as the function's task does.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop is disposed or being disposed.</exception>
    public Task RunAsync(Func<CancellationToken, Task> function) => Schedule(function, CancellationToken.None);

    /// <summary>
    /// Runs an asynchronous function on the loop and waits for it. Cancelling <paramref name="cancellationToken"/>
    /// cancels the function's token and ends this wait at once, even if the function ignores its token.
    /// </summary>
    /// <param name="function">The function; receives the work's token.</param>
    /// <param name="cancellationToken">Cancels the work and the wait.</param>
    /// <returns>A task that completes as the function's task does, or cancelled when the caller gave up.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop is disposed or being disposed.</exception>
    public Task RunAsync(Func<CancellationToken, Task> function, CancellationToken cancellationToken) =>
        WaitOrGiveUp(Schedule(function, cancellationToken), cancellationToken);

    /// <summary>Runs an asynchronous function on the loop and waits for its result (the Python library async-utils' <c>run</c>); the same as <see cref="Schedule{TResult}(Func{CancellationToken, Task{TResult}})"/>.</summary>
    /// <typeparam name="TResult">The function's result type.</typeparam>
    /// <param name="function">The function; receives the work's token.</param>
    /// <returns>A task for the function's result.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop is disposed or being disposed.</exception>
    public Task<TResult> RunAsync<TResult>(Func<CancellationToken, Task<TResult>> function) => Schedule(function, CancellationToken.None);

    /// <summary>
    /// Runs an asynchronous function on the loop and waits for its result. Cancelling <paramref name="cancellationToken"/>
    /// cancels the function's token and ends this wait at once, even if the function ignores its token.
    /// </summary>
    /// <typeparam name="TResult">The function's result type.</typeparam>
    /// <param name="function">The function; receives the work's token.</param>
    /// <param name="cancellationToken">Cancels the work and the wait.</param>
    /// <returns>A task for the function's result, or cancelled when the caller gave up.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop is disposed or being disposed.</exception>
    public Task<TResult> RunAsync<TResult>(Func<CancellationToken, Task<TResult>> function, CancellationToken cancellationToken) =>
        WaitOrGiveUp(Schedule(function, cancellationToken), cancellationToken);

    /// <summary>
    /// Runs an action on the loop, fire-and-forget. If it throws, the exception goes to
    /// <see cref="UnhandledException"/> and the loop goes on.
    /// </summary>
    /// <param name="action">The action; receives the work's token.</param>
    /// <exception cref="ArgumentNullException"><paramref name="action"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop is disposed or being disposed.</exception>
    public void Post(Action<CancellationToken> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        Enqueue<object?>(action, LoopWorkKind.Action, posted: true, CancellationToken.None);
    }

    /// <summary>
    /// Runs an asynchronous function on the loop, fire-and-forget. If it fails, or its task ends
    /// cancelled while its token is not, the exception goes to <see cref="UnhandledException"/>
    /// (on the loop thread) and the loop goes on. It counts as outstanding work until its task
    /// completes and its fault, if any, has been reported.
    /// </summary>
    /// <param name="function">The function; receives the work's token.</param>
    /// <exception cref="ArgumentNullException"><paramref name="function"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The loop is disposed or being disposed.</exception>
    public void Post(Func<CancellationToken, Task> function)
    {
        ArgumentNullException.ThrowIfNull(function);
        Enqueue<object?>(function, LoopWorkKind.AsyncAction, posted: true, CancellationToken.None);
    }

    /// <summary>
    /// Cancels the tokens of all work scheduled or posted so far that has not finished. Work
    /// scheduled afterwards gets a fresh token. Token callbacks run on the calling thread; if
    /// any throws, the <see cref="AggregateException"/> surfaces here, after every token was cancelled.
    /// </summary>
    public void CancelAll()
    {
        CancellationTokenSource cancelled;
        lock (_gate)
        {
            cancelled = _cancelAll;
            _cancelAll = new CancellationTokenSource();
        }

        cancelled.Cancel();
    }

    /// <summary>
    /// Blocks until no scheduled or posted work is outstanding, or the timeout passes (the Python library
    /// async-utils' <c>wait_sync</c>). Work scheduled while waiting is waited for too.
    /// </summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for no limit.</param>
    /// <returns><see langword="true"/> when everything finished; <see langword="false"/> on timeout.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative and not infinite.</exception>
    /// <exception cref="InvalidOperationException">Called on the loop thread, where it would wait for itself.</exception>
    public bool WaitAll(TimeSpan timeout)
    {
        ValidateTimeout(timeout, nameof(timeout));
        ThrowIfLoopThread(nameof(WaitAll));
        return WaitIdleAsync(timeout, CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <summary>Waits until no scheduled or posted work is outstanding, or the timeout passes.</summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> for no limit.</param>
    /// <param name="cancellationToken">Stops waiting (the task ends as cancelled); the work itself is not affected.</param>
    /// <returns><see langword="true"/> when everything finished; <see langword="false"/> on timeout.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative and not infinite.</exception>
    /// <exception cref="InvalidOperationException">Called on the loop thread, where it would wait for itself.</exception>
    public Task<bool> WaitAllAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        ValidateTimeout(timeout, nameof(timeout));
        ThrowIfLoopThread(nameof(WaitAllAsync));
        return WaitIdleAsync(timeout, cancellationToken);
    }

    /// <summary>
    /// Waits for outstanding work, cancels and unwinds what is left, stops the loop and joins its
    /// thread (see the type's remarks). Later calls wait for the first one and do not throw.
    /// </summary>
    /// <exception cref="InvalidOperationException">Called on the loop thread, where it would wait for itself.</exception>
    /// <exception cref="AggregateException">Faults that no <see cref="UnhandledException"/> handler took, after the thread was joined.</exception>
    public void Dispose()
    {
        (Task<Exception?> disposal, bool first) = BeginDispose();
        Exception? faults = disposal.GetAwaiter().GetResult();
        if (first && faults is not null)
        {
            throw faults;
        }
    }

    /// <summary>
    /// Waits for outstanding work, cancels and unwinds what is left, stops the loop and joins its
    /// thread (see the type's remarks). Later calls wait for the first one and do not throw.
    /// </summary>
    /// <returns>A task that completes when the thread has been joined.</returns>
    /// <exception cref="InvalidOperationException">Called on the loop thread, where it would wait for itself.</exception>
    /// <exception cref="AggregateException">Faults that no <see cref="UnhandledException"/> handler took, after the thread was joined.</exception>
    public async ValueTask DisposeAsync()
    {
        (Task<Exception?> disposal, bool first) = BeginDispose();
        Exception? faults = await disposal.ConfigureAwait(false);
        if (first && faults is not null)
        {
            throw faults;
        }
    }

    /// <summary>The work finished (or was abandoned): it stops counting as outstanding.</summary>
    internal void Settle(LoopWork work, bool mayBeAbandoned)
    {
        // Only asynchronous work can race with abandonment at shutdown; synchronous work settles once.
        if (mayBeAbandoned)
        {
            if (!work.TrySettle())
            {
                return;
            }

            lock (_gate)
            {
                Unlink(work);
            }
        }

        FinishOne();
    }

    /// <summary>Counted work has left the queue: the loop thread is starting it.</summary>
    internal void LeftQueue() => Interlocked.Decrement(ref _queued);

    /// <summary>Queues bookkeeping (never user code) to run on the loop thread, unless the loop has been told to stop.</summary>
    /// <returns><see langword="false"/> if the loop will run nothing more; the caller then does the work itself.</returns>
    internal bool TryRunOnLoop(Action<object?> callback, object state)
    {
        lock (_gate)
        {
            if (_stopPosted)
            {
                return false;
            }

            new Task(callback, state).Start(_scheduler);
            return true;
        }
    }

    /// <summary>Raises <see cref="UnhandledException"/> (on the loop thread, except for work abandoned after the loop stopped) or keeps the fault for disposal.</summary>
    internal void ReportFault(Exception fault)
    {
        BackgroundLoopMetrics.AddFault(MetricsName);
        EventHandler<ThreadedLoopExceptionEventArgs>? handler = UnhandledException;
        if (handler is null)
        {
            Keep(fault);
            return;
        }

        try
        {
            handler(this, new ThreadedLoopExceptionEventArgs(fault));
        }
        catch (Exception handlerFault)
        {
            Keep(handlerFault);
        }
    }

    private static void ValidateTimeout(TimeSpan timeout, string paramName)
    {
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(paramName, timeout, "The timeout must be zero or positive, or Timeout.InfiniteTimeSpan.");
        }
    }

    private static async Task WaitOrGiveUp(Task work, CancellationToken cancellationToken)
    {
        try
        {
            await work.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !work.IsCompleted)
        {
            Observe(work);
            throw;
        }
    }

    private static async Task<TResult> WaitOrGiveUp<TResult>(Task<TResult> work, CancellationToken cancellationToken)
    {
        try
        {
            return await work.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !work.IsCompleted)
        {
            Observe(work);
            throw;
        }
    }

    /// <summary>The caller gave up on the work: whatever it ends with is observed, never an unobserved-task exception.</summary>
    private static void Observe(Task work) =>
        work.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private LoopWork<TResult> Enqueue<TResult>(object function, LoopWorkKind kind, bool posted, CancellationToken cancellationToken)
    {
        // Counted before the state check, so a drain that starts meanwhile waits for this work;
        // _enqueuing lets the stop wait until no accepted work is still on its way to the queue.
        Interlocked.Increment(ref _enqueuing);
        Interlocked.Increment(ref _outstanding);
        try
        {
            int state = Volatile.Read(ref _state);
            if (state != Running && !(state == Draining && IsLoopThread))
            {
                FinishOne();
                throw Disposed();
            }

            CancellationToken token = Volatile.Read(ref _cancelAll).Token;
            CancellationTokenSource? linked = null;
            if (cancellationToken.CanBeCanceled)
            {
                linked = CancellationTokenSource.CreateLinkedTokenSource(token, cancellationToken);
                token = linked.Token;
            }

            var work = new LoopWork<TResult>(this, function, kind, posted, linked, token);
            if (kind >= LoopWorkKind.AsyncAction)
            {
                // Asynchronous work can outlive the loop; the registry lets shutdown cancel it.
                lock (_gate)
                {
                    work.InRegistry = true;
                    work.Next = _head;
                    if (_head is not null)
                    {
                        _head.Previous = work;
                    }

                    _head = work;
                }
            }

            if (BackgroundLoopMetrics.QueueDepth.Enabled)
            {
                // Only while someone watches: an unwatched loop pays nothing per item.
                work.CountedInQueue = true;
                Interlocked.Increment(ref _queued);
            }

            new Task(LoopWork.ExecuteCallback, work).Start(_scheduler);
            return work;
        }
        finally
        {
            Interlocked.Decrement(ref _enqueuing);
        }
    }

    private void Unlink(LoopWork work)
    {
        if (!work.InRegistry)
        {
            return;
        }

        work.InRegistry = false;
        if (work.Previous is null)
        {
            _head = work.Next;
        }
        else
        {
            work.Previous.Next = work.Next;
        }

        if (work.Next is not null)
        {
            work.Next.Previous = work.Previous;
        }

        work.Previous = work.Next = null;
    }

    private void FinishOne()
    {
        if (Interlocked.Decrement(ref _outstanding) == 0 && Volatile.Read(ref _idle) is not null)
        {
            SignalIdle();
        }
    }

    private void SignalIdle()
    {
        TaskCompletionSource? idle = null;
        lock (_gate)
        {
            if (Volatile.Read(ref _outstanding) == 0)
            {
                idle = _idle;
                _idle = null;
            }
        }

        idle?.TrySetResult();
    }

    private ObjectDisposedException Disposed() => new(nameof(ThreadedLoop), $"The loop '{Name}' is disposed or being disposed; it accepts no new work.");

    private void ThrowIfLoopThread(string member)
    {
        if (IsLoopThread)
        {
            throw new InvalidOperationException(
                $"{member} cannot be called on the loop thread of '{Name}': it waits for the loop's work, which would then wait for itself. Call it from another thread.");
        }
    }

    private void ThreadMain()
    {
        try
        {
            while (true)
            {
                try
                {
                    // Returns only when the context's queue is completed, which the loop's own
                    // hold prevents; the loop ends through the stop signal.
                    _context.Execute();
                    return;
                }
                catch (OperationCanceledException stop) when (ReferenceEquals(stop, _stopSignal))
                {
                    return;
                }
                catch (Exception fault)
                {
                    // An exception propagated out of the context: an async void method threw.
                    // AsyncContextThread dies here; the loop reports it and goes on with the queue.
                    ReportFault(fault);
                }
            }
        }
        finally
        {
            _exited.TrySetResult();
        }
    }

    private async Task<bool> WaitIdleAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _outstanding) == 0)
        {
            return true;
        }

        Task idle;
        lock (_gate)
        {
            idle = (_idle ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }

        // The waiter is published before the count is read again (full fence), and the last
        // finisher decrements before reading the waiter: one of the two sees the other.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _outstanding) == 0)
        {
            SignalIdle();
        }

        try
        {
            await idle.WaitAsync(timeout, _time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private (Task<Exception?> Disposal, bool First) BeginDispose()
    {
        if (IsLoopThread)
        {
            throw new InvalidOperationException(
                $"The loop '{Name}' cannot be disposed from its own thread: disposal waits for the loop's work and joins the thread, which would wait for itself. Dispose it from another thread.");
        }

        TaskCompletionSource<Exception?> disposal;
        lock (_gate)
        {
            if (_disposal is not null)
            {
                return (_disposal.Task, false);
            }

            _disposal = disposal = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
            _state = Draining;
        }

        return (RunDisposalAsync(disposal), true);
    }

    private async Task<Exception?> RunDisposalAsync(TaskCompletionSource<Exception?> disposal)
    {
        bool drained = await WaitIdleAsync(_disposeTimeout, CancellationToken.None).ConfigureAwait(false);
        lock (_gate)
        {
            _state = Stopping;
        }

        CancelAllKeepingFaults();
        if (!drained)
        {
            await WaitIdleAsync(_gracePeriod, CancellationToken.None).ConfigureAwait(false);
        }

        // No accepted work may reach the queue after the stop signal.
        SpinWait.SpinUntil(() => Volatile.Read(ref _enqueuing) == 0);

        // Everything queued before the signal still runs; then Execute throws it and the thread
        // leaves. Posted under the lock, so TryRunOnLoop either queues ahead of it or sees it.
        lock (_gate)
        {
            _stopPosted = true;
            _context.SynchronizationContext.Post(static state => throw (OperationCanceledException)state!, _stopSignal);
        }
        await _exited.Task.ConfigureAwait(false);
        _thread.Join();

        // What is left is asynchronous work whose continuations can no longer run: cancel its tasks.
        LoopWork? left;
        lock (_gate)
        {
            left = _head;
            _head = null;
        }

        while (left is not null)
        {
            LoopWork next = left.Next!;
            left.InRegistry = false;
            left.Previous = left.Next = null;
            if (left.TrySettle())
            {
                left.Abandon();
                FinishOne();
            }

            left = next;
        }

        Exception? faults = null;
        lock (_gate)
        {
            if (_unreported is { Count: > 0 })
            {
                faults = new AggregateException($"The loop '{Name}' had faults that no UnhandledException handler took.", _unreported);
            }

            _unreported = null;
        }

        disposal.SetResult(faults);
        return faults;
    }

    private void CancelAllKeepingFaults()
    {
        try
        {
            CancelAll();
        }
        catch (AggregateException callbackFaults)
        {
            foreach (Exception fault in callbackFaults.InnerExceptions)
            {
                Keep(fault);
            }
        }
    }

    private void Keep(Exception fault)
    {
        lock (_gate)
        {
            (_unreported ??= []).Add(fault);
        }
    }
}
