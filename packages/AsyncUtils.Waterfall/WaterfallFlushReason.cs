namespace AsyncUtils;

/// <summary>Why a batch was handed to the callback.</summary>
public enum WaterfallFlushReason
{
    /// <summary>The batch reached <see cref="WaterfallOptions.MaxBatchSize"/> items.</summary>
    Count = 0,

    /// <summary><see cref="WaterfallOptions.MaxWait"/> passed since the batch's first item.</summary>
    Time = 1,

    /// <summary>The waterfall was stopping and flushed what it held.</summary>
    Stop = 2,
}
