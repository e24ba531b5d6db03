namespace AsyncUtils;

/// <summary>
/// Merges several <see cref="IAsyncEnumerable{T}"/> sequences into one that yields their items as
/// they arrive (<see cref="Merge{T}(IAsyncEnumerable{T}[])"/>), or batches of the items that are
/// ready together (<see cref="MergeBatches{T}(IAsyncEnumerable{T}[])"/>). The <c>merge_gens</c> and
/// <c>batch_merge_gens</c> of the Python library async-utils.
/// </summary>
/// <remarks>
/// <para>
/// <b>Arrival order.</b> Items come in the order the sources produced them; each source's own order is
/// kept. Sources that are ready at the same time take turns (a source that always has an item at
/// once cannot starve the others).
/// </para>
/// <para>
/// <b>Lazy.</b> Each source has at most one <c>MoveNextAsync</c> pending, and its next one is started
/// only when the consumer asks for the item after the one that source gave, exactly as if the consumer
/// enumerated it directly. Leaving the loop therefore never takes from a source an item that will not
/// be delivered, except for the one step each other source had in flight.
/// </para>
/// <para>
/// <b>Cleanup.</b> A source is disposed as soon as it ends or fails. Leaving early (<c>break</c>, an
/// exception in the loop body, cancellation, a failure in <see cref="MergeErrorMode.Throw"/> mode)
/// cancels the token every source was given, waits for the steps in flight to finish (their outcome is
/// discarded), and disposes every source that is left, all of them even when some fail; the disposal
/// failures are thrown together as an <see cref="AggregateException"/> (or added to the exception
/// already being thrown), except in <see cref="MergeErrorMode.Suppress"/> mode.
/// </para>
/// <para>
/// <b>Cancellation.</b> The token given to <c>WithCancellation</c> (or <c>GetAsyncEnumerator</c>) reaches
/// every source's <c>GetAsyncEnumerator</c>, through a token the merge also cancels when it leaves
/// early; a waiting <c>MoveNextAsync</c> throws <see cref="OperationCanceledException"/> once the
/// sources' steps in flight have finished and every source is disposed.
/// </para>
/// <para>
/// Each enumeration of the merged sequence enumerates every source once more. The sources' own code
/// (<c>GetAsyncEnumerator</c>, <c>MoveNextAsync</c>, <c>DisposeAsync</c>) is called from the consumer's
/// <c>MoveNextAsync</c> and <c>DisposeAsync</c>, never concurrently for one source.
/// </para>
/// </remarks>
public static class AsyncMerge
{
    /// <summary>
    /// Merges <paramref name="sources"/> into one sequence of their items in arrival order; the first
    /// failure of a source ends it (<see cref="MergeErrorMode.Throw"/>).
    /// </summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <param name="sources">The sequences to merge; the array is copied. None may be <see langword="null"/>; none means an empty sequence.</param>
    /// <returns>A lazy sequence; nothing is asked of the sources before its first <c>MoveNextAsync</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="sources"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">An element of <paramref name="sources"/> is <see langword="null"/>.</exception>
    public static IAsyncEnumerable<T> Merge<T>(params IAsyncEnumerable<T>[] sources) =>
        new MergedSequence<T>(Copy(sources), MergeErrorMode.Throw);

    /// <summary>
    /// Merges <paramref name="sources"/> into one sequence of their items in arrival order, with a
    /// choice of error behaviour: <c>AsyncMerge.Merge([first, second], MergeErrorMode.Delay)</c>.
    /// </summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <param name="sources">The sequences to merge, read once, now. None may be <see langword="null"/>; none means an empty sequence.</param>
    /// <param name="errorMode">What a failure of a source does to the merge; by default the first one ends it.</param>
    /// <returns>A lazy sequence; nothing is asked of the sources before its first <c>MoveNextAsync</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="sources"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">An element of <paramref name="sources"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="errorMode"/> is not a defined value.</exception>
    public static IAsyncEnumerable<T> Merge<T>(IEnumerable<IAsyncEnumerable<T>> sources, MergeErrorMode errorMode = MergeErrorMode.Throw) =>
        new MergedSequence<T>(Copy(sources), Check(errorMode));

    /// <summary>
    /// Merges <paramref name="sources"/> into one sequence of batches: each batch holds every item that
    /// was ready when the consumer asked (at least one; waiting for the first when none is); the first
    /// failure of a source ends it (<see cref="MergeErrorMode.Throw"/>).
    /// </summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <param name="sources">The sequences to merge; the array is copied. None may be <see langword="null"/>; none means an empty sequence.</param>
    /// <returns>A lazy sequence of batches, each a new list the consumer may keep, never empty, with at most one item per source.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="sources"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">An element of <paramref name="sources"/> is <see langword="null"/>.</exception>
    public static IAsyncEnumerable<IReadOnlyList<T>> MergeBatches<T>(params IAsyncEnumerable<T>[] sources) =>
        new BatchMergedSequence<T>(Copy(sources), MergeErrorMode.Throw);

    /// <summary>
    /// Merges <paramref name="sources"/> into one sequence of batches: each batch holds every item that
    /// was ready when the consumer asked (at least one; waiting for the first when none is). With a
    /// choice of error behaviour: <c>AsyncMerge.MergeBatches([first, second], MergeErrorMode.Delay)</c>.
    /// </summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <param name="sources">The sequences to merge, read once, now. None may be <see langword="null"/>; none means an empty sequence.</param>
    /// <param name="errorMode">What a failure of a source does to the merge; by default the first one ends it.</param>
    /// <returns>A lazy sequence of batches, each a new list the consumer may keep, never empty, with at most one item per source.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="sources"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">An element of <paramref name="sources"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="errorMode"/> is not a defined value.</exception>
    public static IAsyncEnumerable<IReadOnlyList<T>> MergeBatches<T>(IEnumerable<IAsyncEnumerable<T>> sources, MergeErrorMode errorMode = MergeErrorMode.Throw) =>
        new BatchMergedSequence<T>(Copy(sources), Check(errorMode));

    private static IAsyncEnumerable<T>[] Copy<T>(IEnumerable<IAsyncEnumerable<T>> sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        IAsyncEnumerable<T>[] copy = [.. sources];
        foreach (IAsyncEnumerable<T> source in copy)
        {
            if (source is null)
            {
                throw new ArgumentException("The sources to merge must not contain null.", nameof(sources));
            }
        }

        return copy;
    }

    private static MergeErrorMode Check(MergeErrorMode errorMode) =>
        errorMode is MergeErrorMode.Throw or MergeErrorMode.Delay or MergeErrorMode.Suppress
            ? errorMode
            : throw new ArgumentOutOfRangeException(nameof(errorMode), errorMode, "Expected Throw, Delay or Suppress.");
}
