namespace AsyncUtils;

/// <summary>Why an entry left an <see cref="LruCache{TKey, TValue}"/>, a <see cref="TtlLruCache{TKey, TValue}"/> or an <see cref="S3FifoCache{TKey, TValue}"/>.</summary>
public enum CacheRemovalReason
{
    /// <summary>An insert needed room and the policy chose this entry: the least recently used one in an LRU cache, one not read again recently enough in an <see cref="S3FifoCache{TKey, TValue}"/>.</summary>
    Evicted,

    /// <summary>The entry's time to live had passed.</summary>
    Expired,

    /// <summary>The entry was removed by <c>Remove</c> or <c>Clear</c>.</summary>
    Removed,

    /// <summary>A write stored a new value for the entry's key.</summary>
    Replaced,

    /// <summary>
    /// The value was created by a <c>GetOrAdd</c> factory but never stored, because another caller
    /// stored a value for the key first (the factory runs outside the lock). The caller got the
    /// stored value instead, so nobody else holds this one: dispose it if you own such values.
    /// Values passed to <c>GetOrAdd(key, value)</c> are never reported this way: the caller still
    /// holds them and can tell from the result whether they were stored.
    /// </summary>
    Discarded,
}
