namespace AsyncUtils;

/// <summary>
/// A synchronous sequence exposed as an <see cref="IAsyncEnumerable{T}"/>, its source running on
/// a dedicated thread per enumeration. Create one with <see cref="ThreadedAsyncEnumerable"/>.
/// </summary>
/// <remarks>
/// <para>
/// <b>Laziness.</b> With the default prefetch of 0 the source is asked for item k+1 only after the
/// consumer has called <c>MoveNextAsync</c> for it, exactly as if the consumer enumerated the
/// source itself; nothing runs before the first <c>MoveNextAsync</c>. With a prefetch of N the
/// source runs at most N items ahead of the consumer's requests.
/// </para>
/// <para>
/// <b>Threads.</b> Each enumeration owns one new background thread (not a thread-pool thread),
/// started at its first <c>MoveNextAsync</c>. The source's <c>GetEnumerator</c>, every
/// <c>MoveNext</c> and its <c>Dispose</c> run on that thread and nowhere else. While the consumer
/// is not asking, the thread spins briefly (bounded, yielding) and then waits on a monitor: idle
/// costs no CPU. The consumer's continuations
/// never run on the source thread: they are queued to the thread pool (or the consumer's
/// synchronization context).
/// </para>
/// <para>
/// <b>Errors.</b> An exception thrown by the source (its factory, <c>GetEnumerator</c>,
/// <c>MoveNext</c> or <c>Dispose</c>) is thrown by the consumer's <c>MoveNextAsync</c> after every
/// item produced before it has been returned.
/// </para>
/// <para>
/// <b>Leaving early.</b> When the consumer disposes its enumerator before the end (a <c>break</c>,
/// an exception in the loop body, or an explicit <c>DisposeAsync</c>), the source's
/// <see cref="ThreadedSourceContext.CancellationToken"/> is cancelled and the source's enumerator is
/// disposed on the source thread, so its <c>finally</c> blocks run, before <c>DisposeAsync</c>
/// returns. If the source is blocked inside <c>MoveNext</c>, disposal waits for that call to return:
/// a blocking source should honour the token. An exception from the source's cleanup is thrown by
/// <c>DisposeAsync</c>; an exception from the step that was in flight when the consumer left is
/// discarded, since nobody is left to receive that item or error.
/// </para>
/// <para>
/// <b>Cancellation.</b> The token given to <c>GetAsyncEnumerator</c> (or <c>WithCancellation</c>)
/// ends the enumeration: a waiting <c>MoveNextAsync</c> throws <see cref="OperationCanceledException"/>
/// at once, later calls throw it too, and the source is stopped as if the consumer had left.
/// </para>
/// <para>
/// <b>Disposal is required.</b> <c>await foreach</c> and LINQ always dispose the enumerator. An
/// enumerator that is abandoned without disposal leaves its source thread waiting forever.
/// </para>
/// <para>
/// <b>Thread safety.</b> The sequence may be enumerated by any number of consumers at once, each
/// with its own thread. One enumerator, like any <see cref="IAsyncEnumerator{T}"/>, serves one
/// consumer: calling <c>MoveNextAsync</c> while a previous call is still pending throws
/// <see cref="InvalidOperationException"/>.
/// </para>
/// </remarks>
/// <typeparam name="T">The item type.</typeparam>
public sealed class ThreadedAsyncEnumerable<T> : IAsyncEnumerable<T>
{
    private readonly Func<ThreadedSourceContext, object, IEnumerable<T>> _factory;
    private readonly object _state;
    private readonly int _prefetch;
    private readonly bool _flowExecutionContext;

    internal ThreadedAsyncEnumerable(Func<ThreadedSourceContext, object, IEnumerable<T>> factory, object state, ThreadedAsyncEnumerableOptions? options)
    {
        _factory = factory;
        _state = state;
        _prefetch = options?.Prefetch ?? 0;
        _flowExecutionContext = options?.FlowExecutionContext ?? true;
    }

    /// <summary>How many items the source may run ahead of the consumer; 0 is fully lazy.</summary>
    public int Prefetch => _prefetch;

    /// <summary>
    /// Starts an enumeration. Nothing runs until the first <c>MoveNextAsync</c>, which starts the
    /// source thread.
    /// </summary>
    /// <param name="cancellationToken">Ends the enumeration when cancelled; see the remarks on the type.</param>
    /// <returns>An enumerator for one consumer; dispose it (<c>await foreach</c> does).</returns>
    public IAsyncEnumerator<T> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        new ThreadedEnumerator<T>(_factory, _state, _prefetch, _flowExecutionContext, cancellationToken);

    /// <summary>
    /// Opens one enumeration whose source is stopped when the scope is disposed rather than when a
    /// loop over it ends, so that the consumer can forward the exception it leaves with to the
    /// source's cleanup with <see cref="ThreadedEnumerationScope{T}.ForwardException(Exception)"/>:
    /// the <c>await using</c> form of the Python library async-utils' context manager. Nothing runs
    /// until the first <c>MoveNextAsync</c>.
    /// </summary>
    /// <param name="cancellationToken">Ends the enumeration when cancelled; see the remarks on <see cref="ThreadedEnumerationScope{T}"/>.</param>
    /// <returns>A scope to enumerate with <c>await foreach</c> and dispose with <c>await using</c>.</returns>
    public ThreadedEnumerationScope<T> OpenScope(CancellationToken cancellationToken = default) =>
        new(new ThreadedEnumerator<T>(_factory, _state, _prefetch, _flowExecutionContext, cancellationToken));

    /// <summary>
    /// Runs <paramref name="body"/> for every item in order, the callback form of the Python library
    /// async-utils' context-manager use: if <paramref name="body"/> throws, the exception is made visible to the
    /// source as <see cref="ThreadedSourceContext.ConsumerException"/>, the source is stopped and
    /// cleaned up on its thread, and then the exception is rethrown.
    /// </summary>
    /// <param name="body">Called once per item, never concurrently, with <paramref name="cancellationToken"/>.</param>
    /// <param name="cancellationToken">Ends the enumeration when cancelled and is passed to <paramref name="body"/>.</param>
    /// <returns>A task that completes once every item was handled and the source was cleaned up.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="body"/> is <see langword="null"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="AggregateException">
    /// <paramref name="body"/> threw and then the source's cleanup threw too; holds both, the body's first.
    /// </exception>
    /// <remarks>
    /// An exception from the source, or from <paramref name="body"/>, is rethrown as is. For the same
    /// behaviour with a plain <c>await foreach</c>, use <see cref="OpenScope(CancellationToken)"/>.
    /// </remarks>
    public Task ForEachAsync(Func<T, CancellationToken, ValueTask> body, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(body);
        return ForEachCoreAsync(body, cancellationToken);
    }

    private async Task ForEachCoreAsync(Func<T, CancellationToken, ValueTask> body, CancellationToken cancellationToken)
    {
        var enumerator = new ThreadedEnumerator<T>(_factory, _state, _prefetch, _flowExecutionContext, cancellationToken);
        try
        {
            while (await enumerator.MoveNextAsync().ConfigureAwait(false))
            {
                try
                {
                    await body(enumerator.Current, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception consumerException)
                {
                    enumerator.SetConsumerException(consumerException);
                    try
                    {
                        await enumerator.DisposeAsync().ConfigureAwait(false);
                    }
                    catch (Exception cleanupException)
                    {
                        throw new AggregateException(consumerException, cleanupException);
                    }

                    throw;
                }
            }
        }
        finally
        {
            await enumerator.DisposeAsync().ConfigureAwait(false);
        }
    }
}
