using System.Buffers;

namespace AsyncUtils;

/// <summary>
/// Turns a cached value into bytes for the second level and back. Shaped like HybridCache's
/// <c>IHybridCacheSerializer&lt;T&gt;</c>, so an implementation of one adapts to the other in two lines.
/// </summary>
/// <typeparam name="T">The type of the cached values.</typeparam>
/// <remarks>
/// Implementations must be thread-safe. An exception thrown by either method is caught by the cache:
/// on <see cref="Serialize"/> the value still reaches the callers and is not written to the second level;
/// on <see cref="Deserialize"/> the stored bytes count as a miss. Both are reported through
/// <see cref="DistributedCacheOptions{TValue}.SecondLevelFailed"/>.
/// </remarks>
public interface ICacheSerializer<T>
{
    /// <summary>Reads a value from the bytes stored in the second level.</summary>
    /// <param name="source">The stored bytes.</param>
    /// <returns>The value.</returns>
    public T Deserialize(ReadOnlySequence<byte> source);

    /// <summary>Writes <paramref name="value"/> as bytes.</summary>
    /// <param name="value">The value to store.</param>
    /// <param name="target">Where to write the bytes.</param>
    public void Serialize(T value, IBufferWriter<byte> target);
}
