namespace AsyncUtils.Shared.Caching;

internal static class OptionChecks
{
    internal static TimeSpan? TimeToLive(TimeSpan? value, string name)
    {
        if (value is TimeSpan ttl && ttl < TimeSpan.Zero && ttl != System.Threading.Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive, TimeSpan.Zero (do not keep results), or null / Timeout.InfiniteTimeSpan (keep them).");
        }

        return value;
    }

    internal static TimeSpan? CallTimeout(TimeSpan? value, string name)
    {
        if (value is TimeSpan timeout && timeout <= TimeSpan.Zero && timeout != System.Threading.Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive, or null / Timeout.InfiniteTimeSpan for none.");
        }

        return value;
    }

    internal static CacheEvictionPolicy EvictionPolicy(CacheEvictionPolicy value, string name)
    {
        if (value is not (CacheEvictionPolicy.Lru or CacheEvictionPolicy.S3Fifo))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be CacheEvictionPolicy.Lru or CacheEvictionPolicy.S3Fifo.");
        }

        return value;
    }
}
