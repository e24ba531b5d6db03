namespace AsyncUtils.Lru;

/// <summary>Why an entry left an <see cref="LruCache{TKey, TValue}"/> or a <see cref="TtlLruCache{TKey, TValue}"/>.</summary>
public enum CacheRemovalReason
{
    /// <summary>The entry was the least recently used one when an insert needed room.</summary>
    Evicted,

    /// <summary>The entry's time to live had passed.</summary>
    Expired,

    /// <summary>The entry was removed by <c>Remove</c> or <c>Clear</c>.</summary>
    Removed,

    /// <summary>A write stored a new value for the entry's key.</summary>
    Replaced,
}
