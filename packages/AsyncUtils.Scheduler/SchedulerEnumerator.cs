using System.Threading.Tasks.Sources;

namespace AsyncUtils;

/// <summary>
/// One consumer of a <see cref="PayloadScheduler{T}"/>. Its pending <see cref="MoveNextAsync"/> is
/// a reusable value-task source, completed exactly once by whoever takes it out of the
/// scheduler's waiter list (a delivery, the end, or its own cancellation).
/// </summary>
/// <remarks>
/// The token is registered on after the consumer joined the waiter list (outside the lock), so a
/// delivery can complete the wait before the registration exists. <see cref="_registrationState"/>
/// settles who disposes it: the completer takes the state to <see cref="Completed"/> and disposes
/// the registration only if it was already <see cref="Registered"/>; otherwise the registering
/// thread sees <see cref="Completed"/> and disposes it itself. Either way no registration outlives
/// its wait.
/// </remarks>
internal sealed class SchedulerEnumerator<T> : IAsyncEnumerator<T>, IValueTaskSource<bool>
{
    private readonly PayloadScheduler<T> _scheduler;
    private readonly CancellationToken _cancellationToken;
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private const int Waiting = 0;
    private const int Registered = 1;
    private const int Completed = 2;

    private CancellationTokenRegistration _registration;
    private int _registrationState;
    private T _current = default!;
    private bool _ended;

    internal SchedulerEnumerator<T>? Previous;
    internal SchedulerEnumerator<T>? Next;
    internal bool Queued;

    /// <summary>How many times a cancellation callback of this consumer ran (tests: a leaked registration shows up here).</summary>
    internal int CancellationCallbacks;

    internal SchedulerEnumerator(PayloadScheduler<T> scheduler, CancellationToken cancellationToken)
    {
        _scheduler = scheduler;
        _cancellationToken = cancellationToken;
    }

    public T Current => _current;

    public ValueTask<bool> MoveNextAsync()
    {
        if (_ended)
        {
            return new ValueTask<bool>(false);
        }

        if (_cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<bool>(_cancellationToken);
        }

        _core.Reset();
        _registrationState = Waiting; // published to completers by the scheduler's lock
        if (_scheduler.TryTakeOrWait(this, out T payload, out bool ended))
        {
            _current = payload;
            return new ValueTask<bool>(true);
        }

        if (ended)
        {
            _ended = true;
            _current = default!;
            return new ValueTask<bool>(false);
        }

        if (_cancellationToken.CanBeCanceled)
        {
            _registration = _cancellationToken.UnsafeRegister(static state => ((SchedulerEnumerator<T>)state!).OnCancelled(), this);
            if (Interlocked.CompareExchange(ref _registrationState, Registered, Waiting) != Waiting)
            {
                // Delivered, ended or withdrawn before the registration existed: nobody else will dispose it.
                _registration.Dispose();
            }
        }

        return new ValueTask<bool>(this, _core.Version);
    }

    public ValueTask DisposeAsync()
    {
        if (_scheduler.Withdraw(this))
        {
            ReleaseRegistration();
            _ended = true;
            _core.SetResult(false);
        }

        _ended = true;
        return ValueTask.CompletedTask;
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    /// <summary>Called outside the scheduler's lock after it took this consumer out of the waiter list.</summary>
    internal void Deliver(T payload)
    {
        ReleaseRegistration();
        _current = payload;
        _core.SetResult(true);
    }

    /// <summary>Called outside the scheduler's lock after it took this consumer out of the waiter list.</summary>
    internal void End()
    {
        ReleaseRegistration();
        _ended = true;
        _current = default!;
        _core.SetResult(false);
    }

    private void OnCancelled()
    {
        Interlocked.Increment(ref CancellationCallbacks);
        if (_scheduler.Withdraw(this))
        {
            // The registration is the one running this callback: nothing left to dispose.
            Interlocked.Exchange(ref _registrationState, Completed);
            _core.SetException(new OperationCanceledException(_cancellationToken));
        }
    }

    /// <summary>The wait is over: disposes the registration if it exists yet, or tells the registering thread to.</summary>
    private void ReleaseRegistration()
    {
        if (Interlocked.Exchange(ref _registrationState, Completed) == Registered)
        {
            _registration.Dispose();
        }
    }
}
