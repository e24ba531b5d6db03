namespace AsyncUtils;

/// <summary>
/// Optional settings for <see cref="ThreadedAsyncEnumerable"/>. They are copied when the sequence
/// is created; changing the object afterwards has no effect.
/// </summary>
public sealed class ThreadedAsyncEnumerableOptions
{
    private int _prefetch;

    /// <summary>
    /// How many items the source may produce ahead of the consumer's requests. The default, 0, is
    /// fully lazy (the behaviour of the Python library async-utils): the source is asked for item k+1 only once the consumer
    /// has asked for it, so wrapping does not change when the source's work happens. A positive
    /// value lets the source run up to that many items ahead, buffered, which trades laziness for
    /// throughput; the buffer never holds more than this many items.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int Prefetch
    {
        get => _prefetch;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(Prefetch));
            _prefetch = value;
        }
    }

    /// <summary>
    /// Whether the source thread runs in the <see cref="ExecutionContext"/> of the consumer's first
    /// <c>MoveNextAsync</c> call, so that <see cref="AsyncLocal{T}"/> values (tracing activities,
    /// logging scopes, culture) are visible to the source. On by default, like both
    /// <c>sync_to_async_gen</c> and <c>sync_to_async_gen_noctx</c> of the Python library
    /// async-utils, which run the generator through <c>asyncio.to_thread</c> and so copy the
    /// caller's <c>contextvars</c> (the "noctx" there means "not a context manager"). Turning it off
    /// starts the source thread with an empty context.
    /// </summary>
    public bool FlowExecutionContext { get; set; } = true;
}
