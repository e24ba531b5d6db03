namespace AsyncUtils;

/// <summary>
/// One cached call. It is the <see cref="TaskCompletionSource{TResult}"/> that waiters await while
/// the call runs (continuations always run asynchronously, so completing it never runs a caller's
/// code on our thread); once the call succeeded, hits read <see cref="Value"/> directly and
/// allocate nothing.
/// </summary>
internal sealed class CoroutineCacheEntry<TKey, TResult> : TaskCompletionSource<TResult>, IExpiryQueued
    where TKey : notnull
{
    /// <summary><see cref="ExpiresAt"/> while the call runs.</summary>
    internal const long Pending = long.MinValue;

    /// <summary><see cref="ExpiresAt"/> of an entry that must not be returned: failed and evicted, timed out, abandoned or not to be kept.</summary>
    internal const long Dead = long.MinValue + 1;

    /// <summary><see cref="ExpiresAt"/> of a cached failure; its expiry is in <see cref="FailureExpiresAt"/>.</summary>
    internal const long Failed = long.MinValue + 2;

    /// <summary><see cref="ExpiresAt"/> of a completed entry that never expires.</summary>
    internal const long Forever = long.MaxValue;

    internal const int Running = 0;
    internal const int Finished = 1;
    internal const int TimedOut = 2;
    internal const int Abandoned = 3;

    /// <summary><see cref="Waiters"/> once the last waiter gave up and the call was abandoned: nobody may join.</summary>
    internal const int Closed = -1;

    /// <summary>
    /// <see cref="Pending"/>, <see cref="Dead"/>, <see cref="Failed"/>, <see cref="Forever"/>, or
    /// the clock reading at which the cached value expires. Written with release semantics after
    /// <see cref="Value"/>, so a reader that sees a live expiry sees the value.
    /// </summary>
    internal long ExpiresAt = Pending;

    /// <summary>When <see cref="ExpiresAt"/> is <see cref="Failed"/>: when the cached failure expires (or <see cref="Forever"/>).</summary>
    internal long FailureExpiresAt;

    internal TResult Value = default!;

    /// <summary><see cref="Running"/> until the outcome, the timeout or the abandonment, whichever comes first, claims it.</summary>
    internal int State;

    /// <summary>Callers waiting on the call, counted only with <c>CancelWhenAllWaitersCancel</c>; <see cref="Closed"/> once abandoned.</summary>
    internal int Waiters;

    internal ValueTask<TResult> Source;

    /// <summary>The shared call's token source: the timeout, the abandonment, or both; <see langword="null"/> when neither is configured.</summary>
    internal CancellationTokenSource? CallSource;

    /// <summary>Marks the flows that compute this call, so that a function asking for its own key is caught.</summary>
    internal readonly CallFrame Frame = new();

    /// <inheritdoc/>
    public int QueueIndex { get; set; } = ExpiryQueue<CoroutineCacheEntry<TKey, TResult>>.NotQueued;

    internal CoroutineCacheEntry(CoroutineCache<TKey, TResult> owner, TKey key, int waiters)
        : base(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        Owner = owner;
        Key = key;
        Waiters = waiters;
    }

    internal CoroutineCache<TKey, TResult> Owner { get; }

    internal TKey Key { get; }

    /// <summary>The continuation registered on the function's <see cref="ValueTask{TResult}"/>; reads its outcome exactly once.</summary>
    internal void OnSourceCompleted()
    {
        ValueTask<TResult> source = Source;
        Source = default;
        TResult value;
        try
        {
            value = source.GetAwaiter().GetResult();
        }
#pragma warning disable CA1031 // The function's failure is the call's outcome.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Owner.Fail(this, ex);
            return;
        }

        Owner.Succeed(this, value);
    }
}
