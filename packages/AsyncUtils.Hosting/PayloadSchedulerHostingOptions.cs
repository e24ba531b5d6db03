namespace AsyncUtils;

/// <summary>
/// How the host runs the consumers of a <see cref="PayloadScheduler{T}"/> registered with
/// <c>AddAsyncUtilsScheduler</c>: how many payloads are handled at once, and what its stop waits for.
/// </summary>
public sealed class PayloadSchedulerHostingOptions
{
    private int _maxConcurrency = 1;

    /// <summary>
    /// How many consumers take due payloads from the scheduler, so how many handler calls may run
    /// at once. One (the default) handles the payloads one at a time in due-time order.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than one.</exception>
    public int MaxConcurrency
    {
        get => _maxConcurrency;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _maxConcurrency = value;
        }
    }

    /// <summary>
    /// What the host's stop waits for. <see langword="false"/> (the default): the handler calls
    /// under way, then the consumers stop; payloads not yet due are not delivered and their number
    /// is logged as a warning. <see langword="true"/>: every payload still scheduled is delivered
    /// when it falls due, as long as the host's shutdown timeout allows (meant for short delays
    /// such as debouncing or retries).
    /// </summary>
    public bool DeliverPendingOnStop { get; set; }
}
