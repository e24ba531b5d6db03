namespace AsyncUtils;

/// <summary>The sequence <see cref="AsyncMerge.Merge{T}(IAsyncEnumerable{T}[])"/> returns; each enumeration is independent.</summary>
/// <typeparam name="T">The item type.</typeparam>
internal sealed class MergedSequence<T>(IAsyncEnumerable<T>[] sources, MergeErrorMode errorMode) : IAsyncEnumerable<T>
{
    public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        new MergeEnumerator<T>(sources, errorMode, cancellationToken);
}

/// <summary>The sequence <see cref="AsyncMerge.MergeBatches{T}(IAsyncEnumerable{T}[])"/> returns; each enumeration is independent.</summary>
/// <typeparam name="T">The item type.</typeparam>
internal sealed class BatchMergedSequence<T>(IAsyncEnumerable<T>[] sources, MergeErrorMode errorMode) : IAsyncEnumerable<IReadOnlyList<T>>
{
    public IAsyncEnumerator<IReadOnlyList<T>> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        new BatchMergeEnumerator<T>(sources, errorMode, cancellationToken);
}
