namespace AsyncUtils;

/// <summary>
/// The counts of a <see cref="PrioritySemaphore"/> registered with
/// <c>AddAsyncUtilsPrioritySemaphore</c> (the semaphore takes them as constructor arguments).
/// </summary>
public sealed class PrioritySemaphoreHostingOptions
{
    private int _initialCount = 1;
    private int _maxCount = int.MaxValue;

    /// <summary>The permits available at first: how many holders at once for a concurrency cap. One by default.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is negative.</exception>
    public int InitialCount
    {
        get => _initialCount;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _initialCount = value;
        }
    }

    /// <summary>
    /// The most permits the semaphore may hold (<see cref="PrioritySemaphore.Release()"/> beyond it
    /// throws); <see cref="int.MaxValue"/> by default. Must be at least <see cref="InitialCount"/>
    /// and positive, checked when the semaphore is created.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than one.</exception>
    public int MaxCount
    {
        get => _maxCount;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _maxCount = value;
        }
    }
}
