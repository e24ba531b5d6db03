namespace AsyncUtils;

/// <summary>
/// What a merge made by <see cref="AsyncMerge"/> does when one of its sources fails, that is, when a
/// source's <c>GetAsyncEnumerator</c>, <c>MoveNextAsync</c> or <c>DisposeAsync</c> throws (the
/// <c>exception_behavior</c> of the Python library async-utils' <c>merge_gens</c>).
/// </summary>
/// <remarks>
/// Whatever the mode, the consumer's own cancellation is not a source failure: when the token given to
/// <c>WithCancellation</c> is cancelled, the merge throws <see cref="OperationCanceledException"/>.
/// </remarks>
public enum MergeErrorMode
{
    /// <summary>
    /// The first failure ends the merge: the items that arrived before it are delivered, then the other
    /// sources are cancelled and disposed and the failure is thrown as it is (or, when disposing the
    /// others failed too, as the first inner exception of an <see cref="AggregateException"/> followed by
    /// those disposal failures). The default; <c>"raise"</c> in the Python library async-utils.
    /// </summary>
    Throw = 0,

    /// <summary>
    /// A failed source ends; the others go on to their end, and then every failure is thrown together,
    /// in the order they happened, as one <see cref="AggregateException"/>. With a source that never
    /// ends the failures are never thrown. <c>"delay"</c> in the Python library async-utils.
    /// </summary>
    Delay = 1,

    /// <summary>
    /// A failed source ends and its failure is dropped, and so are the sources' disposal failures; the
    /// merge never throws because of a source. <c>"suppress"</c> in the Python library async-utils.
    /// </summary>
    Suppress = 2,
}
