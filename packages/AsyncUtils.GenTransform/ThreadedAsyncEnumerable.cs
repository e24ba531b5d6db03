namespace AsyncUtils;

/// <summary>
/// Turns a synchronous sequence into an <see cref="IAsyncEnumerable{T}"/> whose source runs on its
/// own dedicated thread, so that a source that blocks (reading a file or a socket, waiting on a
/// driver) never blocks an async caller and never starves the thread pool.
/// </summary>
/// <remarks>
/// <para>
/// Every enumeration of the returned sequence starts its own thread at its first
/// <c>MoveNextAsync</c>, gets a fresh enumerator from the source on that thread, and ends the thread
/// when the source ends or the consumer leaves. Nothing runs before the first <c>MoveNextAsync</c>.
/// See <see cref="ThreadedAsyncEnumerable{T}"/> for the guarantees.
/// </para>
/// </remarks>
public static class ThreadedAsyncEnumerable
{
    /// <summary>Enumerates <paramref name="source"/> lazily on a dedicated thread.</summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <param name="source">The sequence; <c>GetEnumerator</c>, <c>MoveNext</c> and <c>Dispose</c> all run on the dedicated thread.</param>
    /// <returns>A sequence that can be enumerated any number of times, each time on a new thread.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="source"/> is <see langword="null"/>.</exception>
    public static ThreadedAsyncEnumerable<T> Create<T>(IEnumerable<T> source) => Create(source, null);

    /// <summary>Enumerates <paramref name="source"/> on a dedicated thread, with optional prefetching.</summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <param name="source">The sequence; <c>GetEnumerator</c>, <c>MoveNext</c> and <c>Dispose</c> all run on the dedicated thread.</param>
    /// <param name="options">Prefetch and context flow; copied; <see langword="null"/> for the defaults (lazy).</param>
    /// <returns>A sequence that can be enumerated any number of times, each time on a new thread.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="source"/> is <see langword="null"/>.</exception>
    public static ThreadedAsyncEnumerable<T> Create<T>(IEnumerable<T> source, ThreadedAsyncEnumerableOptions? options)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ThreadedAsyncEnumerable<T>(static (_, state) => (IEnumerable<T>)state, source, options);
    }

    /// <summary>
    /// Enumerates the sequence that <paramref name="sourceFactory"/> returns, lazily, on a dedicated
    /// thread. The factory is called on that thread at the first <c>MoveNextAsync</c> of each
    /// enumeration, with a token that is cancelled when the consumer leaves early.
    /// </summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <param name="sourceFactory">Creates the sequence for one enumeration, given the token that signals an early exit.</param>
    /// <returns>A sequence that can be enumerated any number of times, each time on a new thread.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="sourceFactory"/> is <see langword="null"/>.</exception>
    public static ThreadedAsyncEnumerable<T> Create<T>(Func<CancellationToken, IEnumerable<T>> sourceFactory) =>
        Create(sourceFactory, null);

    /// <summary>
    /// Enumerates the sequence that <paramref name="sourceFactory"/> returns on a dedicated thread,
    /// with optional prefetching. The factory is called on that thread at the first
    /// <c>MoveNextAsync</c> of each enumeration, with a token that is cancelled when the consumer
    /// leaves early.
    /// </summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <param name="sourceFactory">Creates the sequence for one enumeration, given the token that signals an early exit.</param>
    /// <param name="options">Prefetch and context flow; copied; <see langword="null"/> for the defaults (lazy).</param>
    /// <returns>A sequence that can be enumerated any number of times, each time on a new thread.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="sourceFactory"/> is <see langword="null"/>.</exception>
    public static ThreadedAsyncEnumerable<T> Create<T>(Func<CancellationToken, IEnumerable<T>> sourceFactory, ThreadedAsyncEnumerableOptions? options)
    {
        ArgumentNullException.ThrowIfNull(sourceFactory);
        return new ThreadedAsyncEnumerable<T>(
            static (context, state) => ((Func<CancellationToken, IEnumerable<T>>)state)(context.CancellationToken), sourceFactory, options);
    }

    /// <summary>
    /// Enumerates the sequence that <paramref name="sourceFactory"/> returns, lazily, on a dedicated
    /// thread, giving the factory a <see cref="ThreadedSourceContext"/> through which the source's
    /// cleanup can see why the consumer left (the exception forwarding of the Python library
    /// async-utils).
    /// </summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <param name="sourceFactory">Creates the sequence for one enumeration, given that enumeration's context.</param>
    /// <returns>A sequence that can be enumerated any number of times, each time on a new thread.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="sourceFactory"/> is <see langword="null"/>.</exception>
    public static ThreadedAsyncEnumerable<T> CreateWithContext<T>(Func<ThreadedSourceContext, IEnumerable<T>> sourceFactory) =>
        CreateWithContext(sourceFactory, null);

    /// <summary>
    /// Enumerates the sequence that <paramref name="sourceFactory"/> returns on a dedicated thread,
    /// with optional prefetching, giving the factory a <see cref="ThreadedSourceContext"/> through
    /// which the source's cleanup can see why the consumer left.
    /// </summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <param name="sourceFactory">Creates the sequence for one enumeration, given that enumeration's context.</param>
    /// <param name="options">Prefetch and context flow; copied; <see langword="null"/> for the defaults (lazy).</param>
    /// <returns>A sequence that can be enumerated any number of times, each time on a new thread.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="sourceFactory"/> is <see langword="null"/>.</exception>
    public static ThreadedAsyncEnumerable<T> CreateWithContext<T>(Func<ThreadedSourceContext, IEnumerable<T>> sourceFactory, ThreadedAsyncEnumerableOptions? options)
    {
        ArgumentNullException.ThrowIfNull(sourceFactory);
        return new ThreadedAsyncEnumerable<T>(
            static (context, state) => ((Func<ThreadedSourceContext, IEnumerable<T>>)state)(context), sourceFactory, options);
    }
}
