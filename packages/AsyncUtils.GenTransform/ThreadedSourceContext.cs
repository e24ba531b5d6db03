namespace AsyncUtils;

/// <summary>
/// What a source created by <see cref="ThreadedAsyncEnumerable.CreateWithContext{T}(Func{ThreadedSourceContext, IEnumerable{T}})"/>
/// learns about its consumer: a token that is cancelled when the consumer leaves early, and the
/// exception the consumer left with, if any. One context belongs to one enumeration.
/// </summary>
/// <remarks>
/// <para>
/// This is the .NET shape of "forward the consumer's exception into the generator" in the Python
/// library async-utils. A
/// C# iterator cannot have an exception thrown into it at its <c>yield</c>, so instead the source
/// reads <see cref="ConsumerException"/> in its <c>finally</c> block or in a callback registered on
/// <see cref="CancellationToken"/>. The property is set before the token is cancelled and before the
/// source's enumerator is disposed, so both see it.
/// </para>
/// <para>
/// The consumer's exception is known only when the consumer says why it left:
/// <see cref="ThreadedAsyncEnumerable{T}.ForEachAsync(Func{T, CancellationToken, ValueTask}, CancellationToken)"/>
/// does this for an exception thrown by its body, and a <see cref="ThreadedEnumerationScope{T}"/>
/// for an exception given to <see cref="ThreadedEnumerationScope{T}.ForwardException(Exception)"/>
/// before the scope is disposed. A plain <c>await foreach</c> over the sequence cannot: C# disposes
/// the enumerator without saying whether the loop body threw, so there the token is cancelled and
/// the <c>finally</c> blocks run, but <see cref="ConsumerException"/> stays <see langword="null"/>.
/// </para>
/// </remarks>
public sealed class ThreadedSourceContext
{
    private volatile Exception? _consumerException;

    internal ThreadedSourceContext(CancellationToken cancellationToken)
    {
        CancellationToken = cancellationToken;
    }

    /// <summary>
    /// Cancelled when the consumer leaves before the end of the sequence (it stopped iterating, its
    /// loop threw, or its own token was cancelled). Never cancelled when the source runs to its
    /// end. A source that blocks should pass it to what it blocks on, so that leaving early does
    /// not have to wait for the current item.
    /// </summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>
    /// The exception the consumer left with, or <see langword="null"/> when it left normally, is
    /// still iterating, or left without forwarding it (see the remarks on the type).
    /// Set before <see cref="CancellationToken"/> is cancelled and before the source's enumerator
    /// is disposed.
    /// </summary>
    public Exception? ConsumerException => _consumerException;

    internal void SetConsumerException(Exception exception) => _consumerException = exception;
}
