namespace AsyncUtils;

/// <summary>
/// Settings for a <see cref="DualQueue{T}"/> or a <see cref="DualStack{T}"/>. The queue copies
/// them when it is created; changing the object afterwards has no effect on it.
/// </summary>
/// <typeparam name="T">The item type.</typeparam>
public sealed class DualQueueOptions<T>
{
    /// <summary>
    /// The most items the queue holds, at least 1; <see langword="null"/> (the default) for an
    /// unbounded queue. Items held by waiting putters are not counted.
    /// </summary>
    public int? Capacity { get; set; }

    /// <summary>
    /// What a put does when the bounded queue is full; <see cref="QueueFullMode.Wait"/> by default.
    /// Any other mode requires a <see cref="Capacity"/>.
    /// </summary>
    public QueueFullMode FullMode { get; set; }

    /// <summary>
    /// Receives each item dropped by <see cref="QueueFullMode.DropOldest"/> or
    /// <see cref="QueueFullMode.DropNewest"/>. It runs on the putting thread after the put has
    /// taken effect and outside the queue's lock, so it may use the queue. If it throws, the
    /// exception propagates to the caller of the put, whose put has nevertheless taken effect.
    /// </summary>
    public Action<T>? OnDropped { get; set; }

    /// <summary>
    /// The clock for the timeouts of blocking waits; <see cref="TimeProvider.System"/> when
    /// <see langword="null"/>. Tests pass a fake clock to time out waits without sleeping.
    /// </summary>
    public TimeProvider? TimeProvider { get; set; }

    /// <summary>
    /// A name for the queue, added as the <c>asyncutils.queue.name</c> tag to its metrics so that
    /// several queues can be told apart; <see langword="null"/> (the default) adds no tag.
    /// </summary>
    public string? Name { get; set; }
}
