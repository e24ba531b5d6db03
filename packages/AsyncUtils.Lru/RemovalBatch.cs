using System.Runtime.InteropServices;

namespace AsyncUtils;

/// <summary>
/// The entries one operation removed, gathered under the lock and reported after it is released,
/// so that no user callback runs inside the cache's lock. One write removes at most four entries
/// (two expired, then one evicted or replaced, or one discarded factory value), so the batch lives
/// on the stack.
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal struct RemovalBatch<TKey, TValue>
{
    private LruNode<TKey, TValue>? _node0, _node1, _node2, _node3;
    private CacheRemovalReason _reason0, _reason1, _reason2, _reason3;
    private int _count;

    internal readonly bool IsEmpty => _count == 0;

    internal void Add(LruNode<TKey, TValue> node, CacheRemovalReason reason)
    {
        switch (_count++)
        {
            case 0: _node0 = node; _reason0 = reason; break;
            case 1: _node1 = node; _reason1 = reason; break;
            case 2: _node2 = node; _reason2 = reason; break;
            case 3: _node3 = node; _reason3 = reason; break;
            default: throw new InvalidOperationException("A single operation removed more entries than it may.");
        }
    }

    /// <summary>Reports every removal, even when a callback throws; then rethrows what was thrown.</summary>
    internal readonly void Deliver(Action<TKey, TValue, CacheRemovalReason> callback) => ThrowIfAny(DeliverAll(callback));

    /// <summary>Reports every removal, even when a callback throws; returns what was thrown, if anything.</summary>
    internal readonly List<Exception>? DeliverAll(Action<TKey, TValue, CacheRemovalReason> callback)
    {
        List<Exception>? errors = null;
        for (int i = 0; i < _count; i++)
        {
            (LruNode<TKey, TValue> node, CacheRemovalReason reason) = i switch
            {
                0 => (_node0!, _reason0),
                1 => (_node1!, _reason1),
                2 => (_node2!, _reason2),
                _ => (_node3!, _reason3),
            };
            Invoke(callback, node, reason, ref errors);
        }

        return errors;
    }

    internal static void Invoke(Action<TKey, TValue, CacheRemovalReason> callback, LruNode<TKey, TValue> node, CacheRemovalReason reason, ref List<Exception>? errors)
    {
        try
        {
            callback(node.Key, node.Value, reason);
        }
#pragma warning disable CA1031 // Every removal is reported; what a callback throws is rethrown afterwards.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            (errors ??= []).Add(ex);
        }
    }

    internal static void ThrowIfAny(List<Exception>? errors)
    {
        if (errors is null)
        {
            return;
        }

        if (errors.Count == 1)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(errors[0]);
        }

        throw new AggregateException("More than one removal callback threw.", errors);
    }
}
