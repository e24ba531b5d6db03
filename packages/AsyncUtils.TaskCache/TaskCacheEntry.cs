namespace AsyncUtils;

/// <summary>
/// One cached call. The map stores the call's shared task (so that a hit touches only the map and
/// the task, like the bare <c>ConcurrentDictionary&lt;TKey, Task&lt;T&gt;&gt;</c> idiom); the task's
/// <see cref="Task.AsyncState"/> is this entry, which holds what the cache needs to expire, time out
/// and replace it. The task's continuations always run asynchronously, so completing it never runs a
/// caller's code on our thread.
/// </summary>
internal sealed class TaskCacheEntry<TKey, TResult> : IExpiryQueued
    where TKey : notnull
{
    /// <summary><see cref="ExpiresAt"/> while the call runs.</summary>
    internal const long Pending = long.MinValue;

    /// <summary><see cref="ExpiresAt"/> of an entry that must not be returned: failed and evicted, timed out, or not to be kept.</summary>
    internal const long Dead = long.MinValue + 1;

    /// <summary><see cref="ExpiresAt"/> of a completed entry that never expires.</summary>
    internal const long Forever = long.MaxValue;

    internal const int Running = 0;
    internal const int Finished = 1;
    internal const int TimedOut = 2;

    /// <summary>
    /// <see cref="Pending"/>, <see cref="Dead"/>, <see cref="Forever"/>, or the clock reading at
    /// which a completed entry expires. Written with release semantics once the outcome is decided.
    /// </summary>
    internal long ExpiresAt = Pending;

    /// <summary><see cref="Running"/> until the function's outcome or the timeout, whichever comes first, claims it.</summary>
    internal int State;

    internal Task<TResult>? Source;

    internal CancellationTokenSource? TimeoutSource;

    /// <summary>Marks the flows that compute this call, so that a function asking for its own key is caught.</summary>
    internal readonly CallFrame Frame = new();

    /// <inheritdoc/>
    public int QueueIndex { get; set; } = ExpiryQueue<TaskCacheEntry<TKey, TResult>>.NotQueued;

    internal TaskCacheEntry(TaskCache<TKey, TResult> owner, TKey key)
    {
        Owner = owner;
        Key = key;
        Completion = new TaskCompletionSource<TResult>(this, TaskCreationOptions.RunContinuationsAsynchronously);
    }

    internal TaskCache<TKey, TResult> Owner { get; }

    internal TKey Key { get; }

    /// <summary>Completes the shared task.</summary>
    internal TaskCompletionSource<TResult> Completion { get; }

    /// <summary>The shared task every caller of the key receives; it is what the map stores.</summary>
    internal Task<TResult> Task => Completion.Task;

    /// <summary>The entry behind a task that the map stores.</summary>
    internal static TaskCacheEntry<TKey, TResult> Of(Task<TResult> task) => (TaskCacheEntry<TKey, TResult>)task.AsyncState!;

    /// <summary>The continuation registered on the function's task.</summary>
    internal void OnSourceCompleted() => Owner.Complete(this, Source, null);
}
