namespace AsyncUtils;

/// <summary>
/// The ghost FIFO of S3-FIFO: the hash codes (never the keys, so no evicted key stays reachable)
/// of the last <c>capacity</c> entries evicted from the small queue. Owned by the cache's lock.
/// A hash collision only admits a new key to the main queue instead of the small one.
/// </summary>
internal sealed class S3FifoGhost
{
    private readonly int _capacity;
    private readonly Queue<(int Hash, long Seq)> _order = new();
    private readonly Dictionary<int, long> _latest = new();
    private long _seq;

    internal S3FifoGhost(int capacity) => _capacity = Math.Max(1, capacity);

    internal int Count => _latest.Count;

    internal void Add(int hash)
    {
        long seq = ++_seq;
        _latest[hash] = seq;
        _order.Enqueue((hash, seq));
        while (_order.Count > _capacity)
        {
            (int oldHash, long oldSeq) = _order.Dequeue();
            if (_latest.TryGetValue(oldHash, out long latest) && latest == oldSeq)
            {
                _latest.Remove(oldHash);
            }
        }
    }

    /// <summary>Removes the hash and tells whether it was there.</summary>
    internal bool TryTake(int hash) => _latest.Remove(hash);

    internal void Clear()
    {
        _order.Clear();
        _latest.Clear();
    }
}
