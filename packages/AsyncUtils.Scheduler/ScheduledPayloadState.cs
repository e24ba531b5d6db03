namespace AsyncUtils;

/// <summary>Where a <see cref="ScheduledPayload{T}"/> is in its life.</summary>
public enum ScheduledPayloadState
{
    /// <summary>Waiting for its due time (or, once due, for a consumer).</summary>
    Pending = 0,

    /// <summary>Handed to a consumer.</summary>
    Delivered = 1,

    /// <summary>Cancelled, or dropped when the scheduler was disposed; never delivered.</summary>
    Cancelled = 2,
}
