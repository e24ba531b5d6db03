namespace AsyncUtils;

/// <summary>
/// A task group for an <see langword="await"/> <see langword="using"/> scope (the Python library
/// async-utils' <c>BGTasks</c>): start work in it or add tasks to it, and leaving the scope waits for all of
/// them. A failing task never cancels its siblings.
/// </summary>
/// <remarks>
/// <para>
/// <b>Leaving the scope</b> (<see cref="DisposeAsync"/>) waits for every task, including tasks
/// added while it waits. With <see cref="TaskGroupOptions.ExitTimeout"/>, tasks still running
/// after it get the group's <see cref="Token"/> cancelled and the exit still waits for their
/// cleanup. Once the exit has finished, starting or adding work throws
/// <see cref="ObjectDisposedException"/>.
/// </para>
/// <para>
/// <b>Failures</b> are observed as they happen (never an unobserved-task exception), kept in
/// <see cref="Faults"/> in the order they happened, and thrown by <see cref="DisposeAsync"/> as
/// one <see cref="AggregateException"/> after every task has finished. Only the group's own
/// cancellation is not a failure: a task that ends cancelled, or work that throws
/// <see cref="OperationCanceledException"/> before returning its task, counts as cancelled only
/// if the group's <see cref="Token"/> is cancelled by then. Any other cancellation (an
/// <c>HttpClient</c> timeout, some other token) is a failure, kept with its own exception. Caveat: as with any <c>using</c>, if the scope's own body throws and a task also
/// failed, the <see cref="AggregateException"/> replaces the body's exception; read
/// <see cref="Faults"/> or catch inside the body if both matter.
/// </para>
/// <para>
/// <b>Cancellation</b> happens only where it is asked for: <see cref="Cancel"/>, the exit
/// timeout, or the first failure in <see cref="TaskGroupOptions.FailFast"/> mode.
/// </para>
/// <para>
/// <b>Thread safety.</b> Every member may be called from any thread. Work started with
/// <see cref="Start(Func{CancellationToken, Task})"/> runs synchronously on the caller's thread
/// until its first <see langword="await"/>, exactly like calling an async method.
/// </para>
/// <para><b>Cost.</b> One short lock and one task continuation per task.</para>
/// <para>
/// <b>Metrics.</b> The <c>AsyncUtils.BackgroundTasks</c> meter publishes
/// <c>asyncutils.task_group.in_flight</c> (observable: <see cref="Count"/>, read only when a
/// listener collects) and <c>asyncutils.task_group.faults</c> (each exception added to
/// <see cref="Faults"/>, counted only while a listener is subscribed), tagged
/// <c>asyncutils.task_group.name</c> with <see cref="TaskGroupOptions.Name"/> when it is set. A
/// listener that throws is ignored.
/// </para>
/// </remarks>
public sealed class TaskGroup : IAsyncDisposable
{
    private const int Open = 0;
    private const int Exiting = 1;
    private const int Ended = 2;

    private static readonly Action<Task, object?> OnTaskCompleted = static (task, state) => ((TaskGroup)state!).Completed(task);

    private readonly CancellationTokenSource _cts = new();
    private readonly TimeSpan _exitTimeout;
    private readonly bool _failFast;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private readonly List<Exception> _faults = [];
    private int _pending;
    private int _state;
    private TaskCompletionSource? _drained;
    private Task? _exit;

    /// <summary>Creates an empty group with no exit timeout, in which failures do not cancel siblings.</summary>
    public TaskGroup()
        : this(null)
    {
    }

    /// <summary>Creates an empty group.</summary>
    /// <param name="options">Exit timeout, fail-fast and clock; copied, may be <see langword="null"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">The exit timeout is negative and not infinite.</exception>
    public TaskGroup(TaskGroupOptions? options)
    {
        _exitTimeout = options?.ExitTimeout ?? Timeout.InfiniteTimeSpan;
        if (_exitTimeout < TimeSpan.Zero && _exitTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException($"{nameof(options)}.{nameof(TaskGroupOptions.ExitTimeout)}", _exitTimeout, "The exit timeout must be zero or positive, or Timeout.InfiniteTimeSpan.");
        }

        _failFast = options?.FailFast ?? false;
        _time = options?.TimeProvider ?? TimeProvider.System;
        Name = options?.Name;
        BackgroundTasksMetrics.TaskGroups.Add(this);
    }

    /// <summary>The name from <see cref="TaskGroupOptions.Name"/>: the <c>asyncutils.task_group.name</c> tag of the group's metrics.</summary>
    internal string? Name { get; }

    /// <summary>The group's token, given to work it starts; cancelled by <see cref="Cancel"/>, the exit timeout or fail-fast.</summary>
    public CancellationToken Token => _cts.Token;

    /// <summary>The number of the group's tasks that have not finished.</summary>
    public int Count => Volatile.Read(ref _pending);

    /// <summary>A snapshot of the failures so far, in the order they happened.</summary>
    public IReadOnlyList<Exception> Faults
    {
        get
        {
            lock (_gate)
            {
                return [.. _faults];
            }
        }
    }

    /// <summary>
    /// Starts work in the group: calls <paramref name="work"/> now with the group's token. The
    /// group awaits it and reports its failure; nothing is returned, so there is no task to forget
    /// (use <see cref="Start{TResult}(Func{CancellationToken, Task{TResult}})"/> or <see cref="Add"/>
    /// when the caller wants the task too).
    /// </summary>
    /// <param name="work">The work. If it throws before returning a task, that counts as a failed task (an <see cref="OperationCanceledException"/> while the group's token is cancelled counts as cancelled).</param>
    /// <exception cref="ArgumentNullException"><paramref name="work"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The group's scope has ended.</exception>
    public void Start(Func<CancellationToken, Task> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        Reserve();
        Task task;
        try
        {
            task = work(_cts.Token) ?? Task.FromException(NullTask());
        }
        catch (Exception ex)
        {
            task = IsGroupCancellation(ex) ? Task.FromCanceled(_cts.Token) : Task.FromException(ex);
        }

        Attach(task);
    }

    /// <summary>Starts work with a result in the group: calls <paramref name="work"/> now with the group's token.</summary>
    /// <typeparam name="TResult">The result type.</typeparam>
    /// <param name="work">The work. If it throws before returning a task, that counts as a failed task (an <see cref="OperationCanceledException"/> while the group's token is cancelled counts as cancelled).</param>
    /// <returns>The work's task (also awaited by the group).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="work"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The group's scope has ended.</exception>
    public Task<TResult> Start<TResult>(Func<CancellationToken, Task<TResult>> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        Reserve();
        Task<TResult> task;
        try
        {
            task = work(_cts.Token) ?? Task.FromException<TResult>(NullTask());
        }
        catch (Exception ex)
        {
            task = IsGroupCancellation(ex) ? Task.FromCanceled<TResult>(_cts.Token) : Task.FromException<TResult>(ex);
        }

        Attach(task);
        return task;
    }

    /// <summary>
    /// Adds a task that is already running; the group waits for it and observes its failure. If it
    /// ends cancelled while the group's token is not cancelled, that is a failure too.
    /// </summary>
    /// <param name="task">The task.</param>
    /// <exception cref="ArgumentNullException"><paramref name="task"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The group's scope has ended.</exception>
    public void Add(Task task)
    {
        ArgumentNullException.ThrowIfNull(task);
        Reserve();
        Attach(task);
    }

    /// <summary>Cancels the group's token. Token callbacks run on this thread; their exceptions surface here.</summary>
    public void Cancel() => _cts.Cancel();

    /// <summary>
    /// Leaves the scope: waits for every task (including ones added meanwhile), cancelling the
    /// group's token after the exit timeout, then throws the failures, if any. Later calls wait
    /// for the same exit and throw the same failures.
    /// </summary>
    /// <returns>A task that completes when every task has finished.</returns>
    /// <exception cref="AggregateException">One or more of the group's tasks failed; <see cref="AggregateException.InnerExceptions"/> lists them in order.</exception>
    public ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            _exit ??= ExitAsync();
            return new ValueTask(_exit);
        }
    }

    private static InvalidOperationException NullTask() => new("The work returned a null task.");

    /// <summary>The exception a cancelled task ends with: the work's own <see cref="OperationCanceledException"/> when it threw one.</summary>
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

    /// <summary>
    /// The one rule for both paths (thrown before the work returned its task, or ending its task
    /// later): a cancellation is the group's own, and so not a failure, only when the group's
    /// token is cancelled by the time the work ends. Any other (an HttpClient timeout, a caller's
    /// token) is a failure.
    /// </summary>
    private bool IsGroupCancellation(Exception ex) => ex is OperationCanceledException && _cts.IsCancellationRequested;

    private async Task ExitAsync()
    {
        Task? drained = null;
        lock (_gate)
        {
            if (_pending == 0)
            {
                _state = Ended;
            }
            else
            {
                _state = Exiting;
                drained = (_drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }
        }

        if (drained is not null)
        {
            try
            {
                await drained.WaitAsync(_exitTimeout, _time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                CancelKeepingFaults();
                await drained.ConfigureAwait(false);
            }
        }

        lock (_gate)
        {
            if (_faults.Count > 0)
            {
                throw new AggregateException($"{_faults.Count} task(s) of the group failed.", _faults);
            }
        }
    }

    private void CancelKeepingFaults()
    {
        try
        {
            _cts.Cancel();
        }
        catch (AggregateException callbackFaults)
        {
            lock (_gate)
            {
                _faults.AddRange(callbackFaults.InnerExceptions);
            }

            RecordFaults(callbackFaults.InnerExceptions.Count);
        }
    }

    private void Reserve()
    {
        lock (_gate)
        {
            if (_state == Ended)
            {
                throw new ObjectDisposedException(nameof(TaskGroup), "The task group's scope has ended; it accepts no more work.");
            }

            _pending++;
        }
    }

    private void Attach(Task task)
    {
        if (task.IsCompleted)
        {
            Completed(task);
        }
        else
        {
            task.ContinueWith(OnTaskCompleted, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private void Completed(Task task)
    {
        bool cancelSiblings = false;
        int faults = 0;
        TaskCompletionSource? drained = null;

        // A task that ended cancelled while the group's token was not: someone else's
        // cancellation (an async method turns any OperationCanceledException into a cancelled
        // task), so a failure. Its own exception is fetched outside the lock.
        OperationCanceledException? foreign = task.IsCanceled && !_cts.IsCancellationRequested ? CancellationOf(task) : null;
        lock (_gate)
        {
            if (task.IsFaulted)
            {
                // Reading Exception marks the task observed.
                int before = _faults.Count;
                _faults.AddRange(task.Exception!.InnerExceptions);
                faults = _faults.Count - before;
                cancelSiblings = _failFast;
            }
            else if (foreign is not null)
            {
                _faults.Add(foreign);
                faults = 1;
                cancelSiblings = _failFast;
            }

            if (--_pending == 0 && _state == Exiting)
            {
                _state = Ended;
                drained = _drained;
            }
        }

        // Counted before the exit can complete, so whoever awaits it sees the count.
        RecordFaults(faults);
        if (cancelSiblings)
        {
            CancelKeepingFaults();
        }

        drained?.TrySetResult();
    }

    /// <summary>Counts faults added to the list; only while a listener is subscribed, never inside the lock.</summary>
    private void RecordFaults(int count) =>
        BackgroundTasksMetrics.AddFaults(BackgroundTasksMetrics.TaskGroupFaults, count, BackgroundTasksMetrics.TaskGroupNameTag, Name);
}
