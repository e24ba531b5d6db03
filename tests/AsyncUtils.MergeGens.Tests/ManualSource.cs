using System.Threading.Channels;

namespace AsyncUtils.Tests;

/// <summary>
/// A source the test drives step by step: each <c>MoveNextAsync</c> waits for the next outcome the
/// test gives (<see cref="Yield"/>, <see cref="End"/>, <see cref="Fail"/>). It records how the merge
/// used it: how many steps it was asked for, whether two were ever pending at once, its token, and
/// whether it was disposed.
/// </summary>
internal sealed class ManualSource<T>(string name = "source") : IAsyncEnumerable<T>
{
    private readonly Channel<Func<T>?> _outcomes = Channel.CreateUnbounded<Func<T>?>();
    private int _pending;
    private int _maxPending;
    private int _moveNextCalls;
    private int _disposeCalls;
    private int _finishedSteps;

    /// <summary>When false, a pending step ignores the token (a badly behaved source).</summary>
    public bool HonoursCancellation { get; init; } = true;

    /// <summary>Thrown by DisposeAsync, if set.</summary>
    public Exception? DisposeFailure { get; init; }

    /// <summary>Thrown by GetAsyncEnumerator itself, if set.</summary>
    public Exception? GetEnumeratorFailure { get; init; }

    public string Name => name;

    public int MoveNextCalls => Volatile.Read(ref _moveNextCalls);

    public int FinishedSteps => Volatile.Read(ref _finishedSteps);

    public int MaxPending => Volatile.Read(ref _maxPending);

    public bool IsPending => Volatile.Read(ref _pending) > 0;

    public int DisposeCalls => Volatile.Read(ref _disposeCalls);

    public bool Disposed => DisposeCalls > 0;

    public int Enumerations { get; private set; }

    public CancellationToken Token { get; private set; }

    /// <summary>Whether the step was pending when DisposeAsync was called (must never happen).</summary>
    public bool DisposedWhilePending { get; private set; }

    public void Yield(T item) => _outcomes.Writer.TryWrite(() => item);

    public void End() => _outcomes.Writer.TryWrite(null);

    public void Fail(Exception failure) => _outcomes.Writer.TryWrite(() => throw failure);

    public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (GetEnumeratorFailure is not null)
        {
            throw GetEnumeratorFailure;
        }

        Enumerations++;
        Token = cancellationToken;
        return new Enumerator(this, cancellationToken);
    }

    public override string ToString() => name;

    private sealed class Enumerator(ManualSource<T> owner, CancellationToken token) : IAsyncEnumerator<T>
    {
        private bool _ended;

        public T Current { get; private set; } = default!;

        public async ValueTask<bool> MoveNextAsync()
        {
            Interlocked.Increment(ref owner._moveNextCalls);
            int pending = Interlocked.Increment(ref owner._pending);
            InterlockedMax(ref owner._maxPending, pending);
            try
            {
                if (_ended)
                {
                    return false;
                }

                Func<T>? outcome = await owner._outcomes.Reader.ReadAsync(owner.HonoursCancellation ? token : default);
                if (outcome is null)
                {
                    _ended = true;
                    return false;
                }

                Current = outcome();
                return true;
            }
            finally
            {
                Interlocked.Decrement(ref owner._pending);
                Interlocked.Increment(ref owner._finishedSteps);
            }
        }

        public ValueTask DisposeAsync()
        {
            owner.DisposedWhilePending |= Volatile.Read(ref owner._pending) > 0;
            Interlocked.Increment(ref owner._disposeCalls);
            return owner.DisposeFailure is { } failure ? ValueTask.FromException(failure) : ValueTask.CompletedTask;
        }

        private static void InterlockedMax(ref int location, int value)
        {
            int current = Volatile.Read(ref location);
            while (value > current)
            {
                int seen = Interlocked.CompareExchange(ref location, value, current);
                if (seen == current)
                {
                    return;
                }

                current = seen;
            }
        }
    }
}
