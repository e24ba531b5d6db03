using System.Runtime.InteropServices;

namespace AsyncUtils;

/// <summary>
/// A snapshot of a waterfall's counters, taken by <see cref="Waterfall{T}.GetStatistics"/>. The
/// counters are cumulative from the waterfall's creation and the snapshot is consistent: it is
/// taken under the waterfall's lock.
/// </summary>
[StructLayout(LayoutKind.Auto)]
public readonly struct WaterfallStatistics : IEquatable<WaterfallStatistics>
{
    /// <summary>Creates a snapshot with the given counters.</summary>
    /// <param name="batchesByCount">Batches dispatched because they were full.</param>
    /// <param name="batchesByTime">Batches dispatched because their maximum wait had passed.</param>
    /// <param name="batchesByStop">Batches dispatched by a stop.</param>
    /// <param name="itemsBatched">Items in all dispatched batches.</param>
    /// <param name="batchesCompleted">Callback calls that have returned, successfully or not.</param>
    /// <param name="batchesFailed">Callback calls that threw.</param>
    public WaterfallStatistics(long batchesByCount, long batchesByTime, long batchesByStop, long itemsBatched, long batchesCompleted, long batchesFailed)
    {
        BatchesByCount = batchesByCount;
        BatchesByTime = batchesByTime;
        BatchesByStop = batchesByStop;
        ItemsBatched = itemsBatched;
        BatchesCompleted = batchesCompleted;
        BatchesFailed = batchesFailed;
    }

    /// <summary>Batches dispatched because they reached the maximum batch size (<see cref="WaterfallFlushReason.Count"/>).</summary>
    public long BatchesByCount { get; }

    /// <summary>Batches dispatched because the maximum wait since their first item passed (<see cref="WaterfallFlushReason.Time"/>).</summary>
    public long BatchesByTime { get; }

    /// <summary>Batches dispatched by a stop (<see cref="WaterfallFlushReason.Stop"/>); at most one per waterfall.</summary>
    public long BatchesByStop { get; }

    /// <summary>All dispatched batches: the sum of the three reasons.</summary>
    public long Batches => BatchesByCount + BatchesByTime + BatchesByStop;

    /// <summary>Items in all dispatched batches; divided by <see cref="Batches"/> it is the mean batch size.</summary>
    public long ItemsBatched { get; }

    /// <summary>Callback calls that have returned, successfully or by throwing. Their items count as handled.</summary>
    public long BatchesCompleted { get; }

    /// <summary>Callback calls that threw (each also reported by <see cref="Waterfall{T}.CallbackFailed"/>).</summary>
    public long BatchesFailed { get; }

    /// <inheritdoc/>
    public bool Equals(WaterfallStatistics other) =>
        BatchesByCount == other.BatchesByCount && BatchesByTime == other.BatchesByTime && BatchesByStop == other.BatchesByStop
        && ItemsBatched == other.ItemsBatched && BatchesCompleted == other.BatchesCompleted && BatchesFailed == other.BatchesFailed;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is WaterfallStatistics other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() =>
        HashCode.Combine(BatchesByCount, BatchesByTime, BatchesByStop, ItemsBatched, BatchesCompleted, BatchesFailed);

    /// <inheritdoc/>
    public override string ToString() =>
        $"Batches = {Batches} (count {BatchesByCount}, time {BatchesByTime}, stop {BatchesByStop}), Items = {ItemsBatched}, Completed = {BatchesCompleted}, Failed = {BatchesFailed}";

    /// <summary>Compares two snapshots counter by counter.</summary>
    /// <param name="left">The first snapshot.</param>
    /// <param name="right">The second snapshot.</param>
    public static bool operator ==(WaterfallStatistics left, WaterfallStatistics right) => left.Equals(right);

    /// <summary>Compares two snapshots counter by counter.</summary>
    /// <param name="left">The first snapshot.</param>
    /// <param name="right">The second snapshot.</param>
    public static bool operator !=(WaterfallStatistics left, WaterfallStatistics right) => !left.Equals(right);
}
