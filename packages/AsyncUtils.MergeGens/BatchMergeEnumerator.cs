using System.Runtime.CompilerServices;

namespace AsyncUtils;

/// <summary>One enumeration of a merge, in batches of what is ready together.</summary>
/// <typeparam name="T">The item type.</typeparam>
internal sealed class BatchMergeEnumerator<T> : MergeCore<T>, IAsyncEnumerator<IReadOnlyList<T>>
{
    private readonly MergeSource<T>[] _taken;

    /// <summary>The sources whose items are in the consumer's batch; their next steps start at the consumer's next MoveNextAsync.</summary>
    private readonly MergeSource<T>[] _toAdvance;
    private int _toAdvanceCount;

    /// <summary>A failure (Throw mode) found after the items of the last batch: thrown at the next MoveNextAsync.</summary>
    private List<Exception>? _deferred;
    private IReadOnlyList<T> _current = [];

    internal BatchMergeEnumerator(IAsyncEnumerable<T>[] sources, MergeErrorMode errorMode, CancellationToken cancellationToken)
        : base(sources, errorMode, cancellationToken)
    {
        _taken = new MergeSource<T>[sources.Length];
        _toAdvance = new MergeSource<T>[sources.Length];
    }

    public IReadOnlyList<T> Current => _current;

    public ValueTask<bool> MoveNextAsync() => EnterStep() ? MoveNextCoreAsync() : new ValueTask<bool>(false);

    public ValueTask DisposeAsync()
    {
        ThrowIfMoving();
        Array.Clear(_toAdvance);
        _toAdvanceCount = 0;
        _deferred = null;
        _current = [];
        return DisposeCoreAsync();
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> MoveNextCoreAsync()
    {
        try
        {
            if (IsNotStarted)
            {
                Start();
            }
            else if (_deferred is { } deferred)
            {
                _deferred = null;
                Array.Clear(_toAdvance);
                _toAdvanceCount = 0;
                Throw(await StopForFailureAsync(deferred).ConfigureAwait(false));
            }
            else
            {
                // The consumer took the previous batch: only now may its sources take a step.
                for (int i = 0; i < _toAdvanceCount; i++)
                {
                    MergeSource<T> source = _toAdvance[i];
                    _toAdvance[i] = null!;
                    Advance(source);
                }

                _toAdvanceCount = 0;
            }

            while (true)
            {
                if (CancellationToken.IsCancellationRequested)
                {
                    Throw(await StopForCancellationAsync().ConfigureAwait(false));
                }

                int count = TakeAll(_taken);
                if (count > 0)
                {
                    List<T>? batch = await TakeBatchAsync(count).ConfigureAwait(false);
                    if (batch is not null)
                    {
                        _current = batch;
                        return true;
                    }

                    continue;
                }

                if (OpenSources == 0)
                {
                    _current = [];
                    Finish();
                    return false;
                }

                await WaitAsync(cancellable: true).ConfigureAwait(false);
            }
        }
        finally
        {
            ExitStep();
        }
    }

    /// <summary>Reads the taken steps in order: their items make the batch; endings and failures are handled on the way.</summary>
    private async ValueTask<List<T>?> TakeBatchAsync(int count)
    {
        List<T>? batch = null;
        for (int i = 0; i < count; i++)
        {
            MergeSource<T> source = _taken[i];
            _taken[i] = null!;
            Outcome outcome = Take(source, out T item, out Exception? failure);
            if (outcome == Outcome.Item)
            {
                (batch ??= new List<T>(count - i)).Add(item);
                _toAdvance[_toAdvanceCount++] = source;
                continue;
            }

            if (IsConsumerCancellation(failure))
            {
                Discard(_taken, i + 1, count);
                Throw(await StopForCancellationAsync().ConfigureAwait(false));
            }

            if (await FinishAsync(source, failure).ConfigureAwait(false) is { } fatal)
            {
                // Throw mode: the items that arrived before the failure are delivered first.
                Discard(_taken, i + 1, count);
                if (batch is null)
                {
                    Throw(await StopForFailureAsync(fatal).ConfigureAwait(false));
                }

                _deferred = fatal;
                return batch;
            }
        }

        return batch;
    }
}
