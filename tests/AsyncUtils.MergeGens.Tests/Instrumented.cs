namespace AsyncUtils.Tests;

/// <summary>
/// Wraps a sequence and checks how the merge drives it: never two steps pending at once, never a
/// step or a disposal after disposal, never a disposal while a step is pending.
/// </summary>
internal sealed class Instrumented<T>(IAsyncEnumerable<T> inner) : IAsyncEnumerable<T>
{
    private int _pending;
    private int _disposed;

    public int Violations;

    public int Steps;

    public bool Disposed => Volatile.Read(ref _disposed) > 0;

    public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        new Enumerator(this, inner.GetAsyncEnumerator(cancellationToken));

    private sealed class Enumerator(Instrumented<T> owner, IAsyncEnumerator<T> inner) : IAsyncEnumerator<T>
    {
        public T Current => inner.Current;

        public async ValueTask<bool> MoveNextAsync()
        {
            if (Interlocked.Increment(ref owner._pending) != 1 || Volatile.Read(ref owner._disposed) > 0)
            {
                Interlocked.Increment(ref owner.Violations);
            }

            Interlocked.Increment(ref owner.Steps);
            try
            {
                return await inner.MoveNextAsync();
            }
            finally
            {
                Interlocked.Decrement(ref owner._pending);
            }
        }

        public ValueTask DisposeAsync()
        {
            if (Volatile.Read(ref owner._pending) != 0 || Interlocked.Increment(ref owner._disposed) != 1)
            {
                Interlocked.Increment(ref owner.Violations);
            }

            return inner.DisposeAsync();
        }
    }
}

/// <summary>A source whose every step completes synchronously and allocates nothing.</summary>
internal sealed class SyncRange(int start, int count) : IAsyncEnumerable<int>
{
    public IAsyncEnumerator<int> GetAsyncEnumerator(CancellationToken cancellationToken = default) => new Enumerator(start, count);

    private sealed class Enumerator : IAsyncEnumerator<int>
    {
        private readonly int _end;
        private int _next;

        public Enumerator(int start, int count)
        {
            _next = start;
            _end = start + count;
        }

        public int Current { get; private set; }

        public ValueTask<bool> MoveNextAsync()
        {
            if (_next >= _end)
            {
                return new ValueTask<bool>(false);
            }

            Current = _next++;
            return new ValueTask<bool>(true);
        }

        public ValueTask DisposeAsync() => default;
    }
}

/// <summary>A source whose MoveNextAsync throws instead of returning a faulted task.</summary>
internal sealed class ThrowsOnMoveNext(Exception failure) : IAsyncEnumerable<int>
{
    public bool Disposed { get; private set; }

    public IAsyncEnumerator<int> GetAsyncEnumerator(CancellationToken cancellationToken = default) => new Enumerator(this, failure);

    private sealed class Enumerator(ThrowsOnMoveNext owner, Exception failure) : IAsyncEnumerator<int>
    {
        public int Current => 0;

        public ValueTask<bool> MoveNextAsync() => throw failure;

        public ValueTask DisposeAsync()
        {
            owner.Disposed = true;
            return default;
        }
    }
}
