namespace AsyncUtils.TaskCache;

/// <summary>
/// One cached call: it is the <see cref="TaskCompletionSource{TResult}"/> whose task every caller
/// of the key receives (continuations always run asynchronously, so completing it never runs a
/// caller's code on our thread), plus what the cache needs to expire, time out and replace it.
/// </summary>
internal sealed class TaskCacheEntry<TKey, TResult> : TaskCompletionSource<TResult>
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

    internal TaskCacheEntry(TaskCache<TKey, TResult> owner, TKey key)
        : base(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        Owner = owner;
        Key = key;
    }

    internal TaskCache<TKey, TResult> Owner { get; }

    internal TKey Key { get; }

    /// <summary>The continuation registered on the function's task.</summary>
    internal void OnSourceCompleted() => Owner.Complete(this, Source, null);
}
