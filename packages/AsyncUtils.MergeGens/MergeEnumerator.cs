using System.Runtime.CompilerServices;

namespace AsyncUtils;

/// <summary>One enumeration of a merge, item by item.</summary>
/// <typeparam name="T">The item type.</typeparam>
internal sealed class MergeEnumerator<T>(IAsyncEnumerable<T>[] sources, MergeErrorMode errorMode, CancellationToken cancellationToken)
    : MergeCore<T>(sources, errorMode, cancellationToken), IAsyncEnumerator<T>
{
    private T _current = default!;

    /// <summary>The source whose item the consumer holds; its next step starts at the consumer's next MoveNextAsync.</summary>
    private MergeSource<T>? _last;

    public T Current => _current;

    public ValueTask<bool> MoveNextAsync() => EnterStep() ? MoveNextCoreAsync() : new ValueTask<bool>(false);

    public ValueTask DisposeAsync()
    {
        ThrowIfMoving();
        _last = null;
        _current = default!;
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
            else if (_last is { } last)
            {
                // The consumer took the previous item: only now may its source take a step.
                _last = null;
                Advance(last);
            }

            while (true)
            {
                if (CancellationToken.IsCancellationRequested)
                {
                    Throw(await StopForCancellationAsync().ConfigureAwait(false));
                }

                if (TryTake(out MergeSource<T>? source))
                {
                    Outcome outcome = Take(source, out T item, out Exception? failure);
                    if (outcome == Outcome.Item)
                    {
                        _current = item;
                        _last = source;
                        return true;
                    }

                    if (IsConsumerCancellation(failure))
                    {
                        Throw(await StopForCancellationAsync().ConfigureAwait(false));
                    }

                    if (await FinishAsync(source, failure).ConfigureAwait(false) is { } fatal)
                    {
                        Throw(await StopForFailureAsync(fatal).ConfigureAwait(false));
                    }

                    continue;
                }

                if (OpenSources == 0)
                {
                    _current = default!;
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
}
