using System.Buffers;

namespace AsyncUtils;

/// <summary>The read-through logic shared by both distributed caches: L2 read, single flight through the level, call, write.</summary>
internal sealed class SecondLevelLoader<TValue>
{
    private readonly ISecondLevelCache _level;
    private readonly ICacheSerializer<TValue> _serializer;
    private readonly TimeSpan? _timeToLive;
    private readonly Func<string, TValue, TimeSpan?>? _timeToLiveSelector;
    private readonly int _maxValueBytes;
    private readonly Action<string, Exception>? _failed;

    public SecondLevelLoader(ISecondLevelCache level, DistributedCacheOptions<TValue>? options)
    {
        ArgumentNullException.ThrowIfNull(level);
        options ??= new DistributedCacheOptions<TValue>();
        if (options.TimeToLive is { } ttl && ttl < TimeSpan.Zero && ttl != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(options), ttl, "DistributedCacheOptions.TimeToLive must be positive, zero or Timeout.InfiniteTimeSpan.");
        }

        if (options.MaxValueBytes <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxValueBytes, "DistributedCacheOptions.MaxValueBytes must be positive.");
        }

        _level = level;
        _serializer = options.Serializer ?? CacheSerializers.Default<TValue>()
            ?? throw new ArgumentException(
                $"DistributedCacheOptions.Serializer is required for values of type {typeof(TValue).Name} (only string and byte[] have a default); see CacheSerializers.",
                nameof(options));
        _timeToLive = options.TimeToLive;
        _timeToLiveSelector = options.TimeToLiveSelector;
        _maxValueBytes = options.MaxValueBytes;
        _failed = options.SecondLevelFailed;
    }

    public ISecondLevelCache Level => _level;

    public async ValueTask<TValue> LoadAsync<TState>(
        string key, Func<string, TState, CancellationToken, ValueTask<TValue>> function, TState state, CancellationToken cancellationToken)
    {
        long version = -1;
        bool begun = false;
        while (true)
        {
            SecondLevelEntry entry;
            try
            {
                entry = await _level.ReadAsync(key, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                Report(key, ex);
                break; // the store is unavailable: call, do not write
            }

            if (entry.Value is { } bytes)
            {
                if (TryDeserialize(key, bytes, out TValue? found))
                {
                    return found;
                }
            }

            try
            {
                if (await _level.TryBeginCallAsync(key, cancellationToken).ConfigureAwait(false))
                {
                    version = entry.Version;
                    begun = true;
                    break;
                }
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                Report(key, ex);
                break;
            }
        }

        TValue value;
        try
        {
            value = await function(key, state, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            if (begun)
            {
                await EndAsync(key, -1, null, null).ConfigureAwait(false);
            }

            throw;
        }

        if (begun)
        {
            ReadOnlyMemory<byte>? payload = null;
            TimeSpan? ttl = null;
            if (version >= 0 && TryPrepare(key, value, out ttl) && TrySerialize(key, value, out ReadOnlyMemory<byte> serialized))
            {
                payload = serialized;
            }

            await EndAsync(key, payload is null ? -1 : version, payload, ttl).ConfigureAwait(false);
        }

        return value;
    }

    public async Task<bool> InvalidateAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            await _level.InvalidateAsync(key, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            Report(key, ex);
            return false;
        }
    }

    private bool TryPrepare(string key, TValue value, out TimeSpan? ttl)
    {
        ttl = _timeToLive;
        if (_timeToLiveSelector is { } selector)
        {
            try
            {
                ttl = selector(key, value) ?? _timeToLive;
            }
            catch (Exception ex)
            {
                Report(key, ex);
                return false;
            }
        }

        if (ttl == Timeout.InfiniteTimeSpan)
        {
            ttl = null;
        }

        return ttl is not { } t || t > TimeSpan.Zero;
    }

    private bool TrySerialize(string key, TValue value, out ReadOnlyMemory<byte> bytes)
    {
        var writer = new ArrayBufferWriter<byte>();
        try
        {
            _serializer.Serialize(value, writer);
        }
        catch (Exception ex)
        {
            Report(key, new InvalidOperationException($"The value of key '{key}' failed to serialize; it was not written to the second level.", ex));
            bytes = default;
            return false;
        }

        if (writer.WrittenCount > _maxValueBytes)
        {
            Report(key, new InvalidOperationException(
                $"The value of key '{key}' is {writer.WrittenCount} bytes, more than MaxValueBytes ({_maxValueBytes}); it was not written to the second level."));
            bytes = default;
            return false;
        }

        bytes = writer.WrittenMemory;
        return true;
    }

    private bool TryDeserialize(string key, byte[] bytes, out TValue value)
    {
        try
        {
            value = _serializer.Deserialize(new ReadOnlySequence<byte>(bytes));
            return true;
        }
        catch (Exception ex)
        {
            Report(key, new InvalidOperationException($"The stored value of key '{key}' failed to deserialize; it was treated as a miss.", ex));
            value = default!;
            return false;
        }
    }

    private async ValueTask EndAsync(string key, long version, ReadOnlyMemory<byte>? payload, TimeSpan? ttl)
    {
        try
        {
            await _level.EndCallAsync(key, version, payload, ttl).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Report(key, ex);
        }
    }

    internal void Report(string key, Exception exception)
    {
        if (_failed is { } failed)
        {
            try
            {
                failed(key, exception);
            }
            catch (Exception)
            {
                // An observer can never break the cache.
            }
        }
    }
}
