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
    // _word: the pending count in the low bits, and two flags: the scope is exiting (waiting for
    // the count to reach zero; work may still be added), and it has ended (no more work). One
    // word, so a start and a completion cost one interlocked operation each and no lock.
    private const int ExitingFlag = 1 << 30;
    private const int EndedFlag = int.MinValue;
    private const int CountMask = ExitingFlag - 1;

    private readonly CancellationTokenSource _cts = new();
    private readonly TimeSpan _exitTimeout;
    private readonly bool _failFast;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private readonly List<Exception> _faults = [];
    private int _word;
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
    public int Count => Volatile.Read(ref _word) & CountMask;

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
        // Published before the exiting flag, so the completion that ends the scope finds it.
        Task drained = (_drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        int word = Interlocked.Or(ref _word, ExitingFlag) | ExitingFlag;
        bool endedNow = (word & CountMask) == 0 && TryEnd();
        if (!endedNow)
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
        int word = Volatile.Read(ref _word);
        while (true)
        {
            if ((word & EndedFlag) != 0)
            {
                throw new ObjectDisposedException(nameof(TaskGroup), "The task group's scope has ended; it accepts no more work.");
            }

            if ((word & CountMask) == CountMask)
            {
                throw new InvalidOperationException("The task group holds as many unfinished tasks as it can count.");
            }

            int seen = Interlocked.CompareExchange(ref _word, word + 1, word);
            if (seen == word)
            {
                return;
            }

            word = seen;
        }
    }

    /// <summary>The scope is exiting and nothing is pending: ends it, unless a task was added meanwhile (its completion ends it then).</summary>
    private bool TryEnd() => Interlocked.CompareExchange(ref _word, ExitingFlag | EndedFlag, ExitingFlag) == ExitingFlag;

    private void Attach(Task task)
    {
        if (task.IsCompleted)
        {
            Completed(task);
        }
        else
        {
            CompleteLater(task);
        }
    }

    /// <summary>
    /// A bare continuation (no continuation task, no captured ExecutionContext), run synchronously
    /// by the thread that completes the task. A method of its own so that the closure is
    /// allocated only for a task not yet complete.
    /// </summary>
    private void CompleteLater(Task task) => task.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(() => Completed(task));

    private void Completed(Task task)
    {
        bool cancelSiblings = false;
        int faults = 0;

        // A task that ended cancelled while the group's token was not: someone else's
        // cancellation (an async method turns any OperationCanceledException into a cancelled
        // task), so a failure. Its own exception is fetched outside the lock.
        OperationCanceledException? foreign = task.IsCanceled && !_cts.IsCancellationRequested ? CancellationOf(task) : null;
        if (task.IsFaulted || foreign is not null)
        {
            lock (_gate)
            {
                if (task.IsFaulted)
                {
                    // Reading Exception marks the task observed.
                    int before = _faults.Count;
                    _faults.AddRange(task.Exception!.InnerExceptions);
                    faults = _faults.Count - before;
                }
                else
                {
                    _faults.Add(foreign!);
                    faults = 1;
                }

                cancelSiblings = _failFast;
            }

            // Counted, and the siblings cancelled, before the task stops counting as pending, so
            // the exit cannot complete first and whoever awaits it sees the count and the faults.
            RecordFaults(faults);
            if (cancelSiblings)
            {
                CancelKeepingFaults();
            }
        }

        if (Interlocked.Decrement(ref _word) == ExitingFlag && TryEnd())
        {
            _drained!.TrySetResult();
        }
    }

    private void RecordFaults(int count) =>
        BackgroundTasksMetrics.AddFaults(BackgroundTasksMetrics.TaskGroupFaults, count, BackgroundTasksMetrics.TaskGroupNameTag, Name);
}
