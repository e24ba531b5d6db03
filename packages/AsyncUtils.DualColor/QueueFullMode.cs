namespace AsyncUtils;

/// <summary>What a put does when a bounded queue is full.</summary>
/// <remarks>
/// The mode only matters when the queue holds as many items as its capacity and no taker is
/// waiting (a waiting taker always receives a put item directly). Items dropped by
/// <see cref="DropOldest"/> and <see cref="DropNewest"/> go to the queue's <c>OnDropped</c>
/// callback, so none disappears silently.
/// </remarks>
public enum QueueFullMode
{
    /// <summary>
    /// The put waits for room: a blocking put blocks (up to its timeout), an async put returns an
    /// incomplete task, a try-now put returns <see langword="false"/>. Waiting putters are served
    /// in the order they began waiting. The default.
    /// </summary>
    Wait = 0,

    /// <summary>
    /// The item that has been in the queue longest (by the time it entered, whatever the take
    /// order) is removed and handed to <c>OnDropped</c>, and the new item is stored. Puts never
    /// wait and always succeed.
    /// </summary>
    DropOldest = 1,

    /// <summary>
    /// The item being put (the newest) is handed to <c>OnDropped</c> instead of being stored; the
    /// queue is unchanged. Puts never wait and report success. This is
    /// <c>BoundedChannelFullMode.DropWrite</c>, not <c>BoundedChannelFullMode.DropNewest</c>.
    /// </summary>
    DropNewest = 2,

    /// <summary>
    /// The put fails at once: try forms return <see langword="false"/>, <c>Put</c> and
    /// <c>PutAsync</c> throw <see cref="QueueFullException"/>. The caller keeps the item.
    /// </summary>
    Reject = 3,
}
