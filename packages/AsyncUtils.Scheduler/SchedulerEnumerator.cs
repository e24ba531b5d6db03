using System.Threading.Tasks.Sources;

namespace AsyncUtils.Scheduler;

/// <summary>
/// One consumer of a <see cref="PayloadScheduler{T}"/>. Its pending <see cref="MoveNextAsync"/> is
/// a reusable value-task source, completed exactly once by whoever takes it out of the
/// scheduler's waiter list (a delivery, the end, or its own cancellation).
/// </summary>
internal sealed class SchedulerEnumerator<T> : IAsyncEnumerator<T>, IValueTaskSource<bool>
{
    private readonly PayloadScheduler<T> _scheduler;
    private readonly CancellationToken _cancellationToken;
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private CancellationTokenRegistration _registration;
    private T _current = default!;
    private bool _ended;

    internal SchedulerEnumerator<T>? Previous;
    internal SchedulerEnumerator<T>? Next;
    internal bool Queued;

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
        }

        return new ValueTask<bool>(this, _core.Version);
    }

    public ValueTask DisposeAsync()
    {
        if (_scheduler.Withdraw(this))
        {
            _registration.Dispose();
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
        _registration.Dispose();
        _current = payload;
        _core.SetResult(true);
    }

    /// <summary>Called outside the scheduler's lock after it took this consumer out of the waiter list.</summary>
    internal void End()
    {
        _registration.Dispose();
        _ended = true;
        _current = default!;
        _core.SetResult(false);
    }

    private void OnCancelled()
    {
        if (_scheduler.Withdraw(this))
        {
            _core.SetException(new OperationCanceledException(_cancellationToken));
        }
    }
}
