namespace AsyncUtils;

/// <summary>
/// Settings for <see cref="Waterfall{T}"/>. The waterfall copies them when it is created; changing
/// the object afterwards has no effect. Each setter rejects an invalid value at once, naming the
/// property.
/// </summary>
public sealed class WaterfallOptions
{
    private int _maxBatchSize = 100;
    private TimeSpan _maxWait = TimeSpan.FromSeconds(1);
    private int? _maxConcurrentBatches;
    private TimeSpan? _finalizeTimeout;

    /// <summary>The most items in one batch; a batch is dispatched as soon as it has this many. Default 100.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int MaxBatchSize
    {
        get => _maxBatchSize;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value, nameof(MaxBatchSize));
            _maxBatchSize = value;
        }
    }

    /// <summary>
    /// The longest an item waits for its batch to fill, measured from the batch's first item: a
    /// batch is dispatched when this much time has passed since its first item was put, even if it
    /// is not full. Default one second.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero, negative, or infinite.</exception>
    public TimeSpan MaxWait
    {
        get => _maxWait;
        set
        {
            if (value <= TimeSpan.Zero || value == Timeout.InfiniteTimeSpan)
            {
                throw new ArgumentOutOfRangeException(nameof(MaxWait), value, "MaxWait must be a positive, finite time.");
            }

            _maxWait = value;
        }
    }

    /// <summary>
    /// The most callbacks running at once, or <see langword="null"/> (the default) for no cap.
    /// Batches beyond the cap wait, in order, for a running callback to finish. With a cap of 1,
    /// batches are delivered one at a time in the order they were formed; with a higher cap, or
    /// none, a later batch can reach the callback before an earlier one unless
    /// <see cref="OrderedDelivery"/> is set.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is zero or negative.</exception>
    public int? MaxConcurrentBatches
    {
        get => _maxConcurrentBatches;
        set
        {
            if (value is { } cap)
            {
                ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cap, nameof(MaxConcurrentBatches));
            }

            _maxConcurrentBatches = value;
        }
    }

    /// <summary>
    /// Whether the callback is called for the batches in the order they were formed, even when
    /// several may run at once. Default <see langword="false"/>: batches are handed over in no
    /// particular order (a later batch can reach the callback before an earlier one).
    /// </summary>
    /// <remarks>
    /// With <see langword="true"/>, the callback for a batch is called only after the call for
    /// the batch before it has returned its task (its synchronous part has run, up to its first
    /// incomplete <see langword="await"/>); up to <see cref="MaxConcurrentBatches"/> of the returned
    /// tasks still run at once, and they may finish in any order. So work the callback begins
    /// synchronously (taking a sequence number, writing to a channel, sending a request on an
    /// ordered connection) begins in batch order. Callbacks are called one after another from one
    /// thread-pool thread at a time, so a callback that blocks before its first
    /// <see langword="await"/> holds back the ones after it. With a cap of 1 the batches run one at a
    /// time in order either way.
    /// </remarks>
    public bool OrderedDelivery { get; set; }

    /// <summary>
    /// How long stopping may take before the callbacks' <see cref="CancellationToken"/> is
    /// cancelled, counted from the call to <c>StopAsync</c>; <see langword="null"/> (the default)
    /// never cancels. Batches still waiting for a concurrency slot at that moment are handed to
    /// the callback with the cancelled token, so that it can set them aside quickly: no item is
    /// dropped without the callback seeing it. Stopping still waits for the callbacks to return.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative (other than <see cref="Timeout.InfiniteTimeSpan"/>, which means none).</exception>
    public TimeSpan? FinalizeTimeout
    {
        get => _finalizeTimeout;
        set
        {
            if (value is { } timeout && timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
            {
                throw new ArgumentOutOfRangeException(nameof(FinalizeTimeout), value, "FinalizeTimeout must be zero or positive, or null for none.");
            }

            _finalizeTimeout = value == Timeout.InfiniteTimeSpan ? null : value;
        }
    }

    /// <summary>The clock for <see cref="MaxWait"/> and <see cref="FinalizeTimeout"/>; <see langword="null"/> (the default) is <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider? TimeProvider { get; set; }

    /// <summary>
    /// A name for this waterfall, added as the <c>asyncutils.waterfall.name</c> tag to its metrics so
    /// that several waterfalls can be told apart; <see langword="null"/> (the default) adds no tag.
    /// </summary>
    public string? Name { get; set; }
}
