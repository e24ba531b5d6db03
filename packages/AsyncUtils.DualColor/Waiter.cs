namespace AsyncUtils;

internal enum WaitStatus
{
    Waiting,
    Granted,
    Completed,
    TimedOut,
    Canceled,
}

/// <summary>
/// A putter, a taker, or a wait-to-read/write waiter, blocking or async, queued in a
/// <see cref="WaiterList{TValue}"/>. Whoever removes it from its list under the queue's lock sets
/// <see cref="Status"/> (and <see cref="Value"/>) and then, outside the lock, calls
/// <see cref="Signal"/>: exactly one party completes a wait.
/// </summary>
/// <typeparam name="TValue">The item a putter carries, or the item (or flag) a taker receives.</typeparam>
internal abstract class Waiter<TValue>
{
    // Owned by the queue's lock while queued.
    internal Waiter<TValue>? Prev;
    internal Waiter<TValue>? Next;
    internal WaiterList<TValue>? List;
    internal TValue Value = default!;
    internal WaitStatus Status;

    // Set by the party that removed the waiter, before Signal: the exception an async waiter completes with.
    internal Exception? Error;

    /// <summary>Wakes the waiting thread or completes the waiting task. Called outside the lock.</summary>
    internal abstract void Signal();
}
