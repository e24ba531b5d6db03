namespace AsyncUtils;

/// <summary>
/// The handle to one payload given to <see cref="PayloadScheduler{T}.Schedule(DateTimeOffset, T)"/>:
/// cancel it or move it to another time. Thread-safe.
/// </summary>
/// <typeparam name="T">The payload type.</typeparam>
public sealed class ScheduledPayload<T>
{
    private readonly PayloadScheduler<T> _scheduler;

    internal ScheduledPayload(PayloadScheduler<T> scheduler, T payload, long dueTicks, long sequence)
    {
        _scheduler = scheduler;
        Payload = payload;
        DueTicks = dueTicks;
        Sequence = sequence;
    }

    /// <summary>When the payload is (or was) due, in UTC.</summary>
    public DateTimeOffset DueTime
    {
        get
        {
            lock (_scheduler.Gate)
            {
                return new DateTimeOffset(DueTicks, TimeSpan.Zero);
            }
        }
    }

    /// <summary>Whether the payload is pending, delivered or cancelled.</summary>
    public ScheduledPayloadState State
    {
        get
        {
            lock (_scheduler.Gate)
            {
                return StateCore;
            }
        }
    }

    internal T Payload;
    internal long DueTicks;
    internal long Sequence;

    /// <summary>The order in which payloads were scheduled (kept when rescheduled, unlike <see cref="Sequence"/>); for joins.</summary>
    internal long Admission;
    internal int HeapIndex = -1;
    internal ScheduledPayloadState StateCore;

    /// <summary>
    /// Cancels the payload if it has not been delivered: it is removed from the scheduler at once
    /// (O(log n)) and the scheduler drops its reference to the payload. Calling it again, or after
    /// delivery, does nothing.
    /// </summary>
    /// <returns><see langword="true"/> when this call cancelled the payload.</returns>
    public bool Cancel() => _scheduler.Cancel(this);

    /// <summary>
    /// Moves a pending payload to a new due time (O(log n)); among payloads due at the same time
    /// it then counts as scheduled last.
    /// </summary>
    /// <param name="dueTime">The new due time; a time in the past makes it due at once.</param>
    /// <returns><see langword="true"/> when the payload was pending and moved; <see langword="false"/> when it was already delivered or cancelled.</returns>
    public bool Reschedule(DateTimeOffset dueTime) => _scheduler.Reschedule(this, dueTime.UtcTicks);

    /// <summary>Moves a pending payload to <paramref name="delay"/> from now (O(log n)).</summary>
    /// <param name="delay">The delay from now; zero or positive.</param>
    /// <returns><see langword="true"/> when the payload was pending and moved; <see langword="false"/> when it was already delivered or cancelled.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="delay"/> is negative.</exception>
    public bool Reschedule(TimeSpan delay) => _scheduler.Reschedule(this, _scheduler.DueTicksAfter(delay));
}
