using System.Runtime.InteropServices;

namespace AsyncUtils;

/// <summary>
/// The entries one <see cref="S3FifoCache{TKey, TValue}"/> write removed, gathered under the lock
/// and reported after it is released. One write removes at most one entry to make room plus one
/// replaced or discarded value, so the batch lives on the stack.
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal struct S3FifoRemovals<TKey, TValue>
{
    private TKey? _key0, _key1, _key2;
    private TValue? _value0, _value1, _value2;
    private CacheRemovalReason _reason0, _reason1, _reason2;
    private int _count;

    internal readonly bool IsEmpty => _count == 0;

    internal void Add(TKey key, TValue value, CacheRemovalReason reason)
    {
        switch (_count++)
        {
            case 0: _key0 = key; _value0 = value; _reason0 = reason; break;
            case 1: _key1 = key; _value1 = value; _reason1 = reason; break;
            case 2: _key2 = key; _value2 = value; _reason2 = reason; break;
            default: throw new InvalidOperationException("A single operation removed more entries than it may.");
        }
    }

    /// <summary>Reports every removal, even when a callback throws; returns what was thrown, if anything.</summary>
    internal readonly List<Exception>? DeliverAll(Action<TKey, TValue, CacheRemovalReason> callback)
    {
        List<Exception>? errors = null;
        for (int i = 0; i < _count; i++)
        {
            (TKey key, TValue value, CacheRemovalReason reason) = i switch
            {
                0 => (_key0!, _value0!, _reason0),
                1 => (_key1!, _value1!, _reason1),
                _ => (_key2!, _value2!, _reason2),
            };
            Invoke(callback, key, value, reason, ref errors);
        }

        return errors;
    }

    internal static void Invoke(Action<TKey, TValue, CacheRemovalReason> callback, TKey key, TValue value, CacheRemovalReason reason, ref List<Exception>? errors)
    {
        try
        {
            callback(key, value, reason);
        }
#pragma warning disable CA1031 // Every removal is reported; what a callback throws is rethrown afterwards.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            (errors ??= []).Add(ex);
        }
    }
}
