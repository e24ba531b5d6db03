namespace AsyncUtils;

/// <summary>Describes a batch whose callback threw; see <see cref="Waterfall{T}.CallbackFailed"/>.</summary>
/// <typeparam name="T">The item type.</typeparam>
public sealed class WaterfallCallbackFailedEventArgs<T> : EventArgs
{
    internal WaterfallCallbackFailedEventArgs(IReadOnlyList<T> batch, WaterfallFlushReason reason, Exception exception)
    {
        Batch = batch;
        Reason = reason;
        Exception = exception;
    }

    /// <summary>The batch the callback was given; it is the handler's to keep (for example, to set aside and retry).</summary>
    public IReadOnlyList<T> Batch { get; }

    /// <summary>Why the batch was dispatched.</summary>
    public WaterfallFlushReason Reason { get; }

    /// <summary>What the callback threw (an <see cref="OperationCanceledException"/> when it honoured the finalize timeout).</summary>
    public Exception Exception { get; }
}
