namespace AsyncUtils.Shared.Caching;

/// <summary>An entry the <see cref="ExpiryQueue{TEntry}"/> can hold: it stores its own position, so that it can be taken out in O(log n).</summary>
internal interface IExpiryQueued
{
    /// <summary>
    /// The entry's index in the queue's heap, <see cref="ExpiryQueue{TEntry}.NotQueued"/>, or
    /// <see cref="ExpiryQueue{TEntry}.Gone"/> once the entry left the cache. Read and written only
    /// under the queue's lock. Starts at <see cref="ExpiryQueue{TEntry}.NotQueued"/> (-1).
    /// </summary>
    public int QueueIndex { get; set; }
}

/// <summary>
/// The completed entries with a finite time to live, soonest expiry first, so that expired ones
/// can be removed a few at a time. An indexed binary heap: an entry that leaves the cache
/// (evicted, invalidated, replaced, cleared) is taken out at once, so the queue never holds more
/// than the entries the cache stores, and never keeps a removed result reachable. An entry that
/// left the cache before it was queued (evicted while its call ran) is never queued.
/// </summary>
/// <typeparam name="TEntry">The cache's entry.</typeparam>
internal sealed class ExpiryQueue<TEntry>
    where TEntry : class, IExpiryQueued
{
    /// <summary><see cref="IExpiryQueued.QueueIndex"/> of an entry not in the queue.</summary>
    internal const int NotQueued = -1;

    /// <summary><see cref="IExpiryQueued.QueueIndex"/> of an entry that left the cache: it is never queued again.</summary>
    internal const int Gone = -2;

    private const int InitialCapacity = 16;

#if NET9_0_OR_GREATER
    private readonly Lock _sync = new();
#else
    private readonly object _sync = new();
#endif
    private Slot[] _heap = [];
    private int _count;

    internal int Count
    {
        get
        {
            lock (_sync)
            {
                return _count;
            }
        }
    }

    /// <summary>
    /// Queues <paramref name="entry"/> to expire at <paramref name="expiresAt"/> (unless it already
    /// left the cache), then takes out up to two entries expired at <paramref name="now"/>, which the
    /// caller removes from the cache (conditionally: they may have been replaced meanwhile).
    /// </summary>
    internal void Add(TEntry entry, long expiresAt, long now, out TEntry? expired1, out TEntry? expired2)
    {
        lock (_sync)
        {
            int index = entry.QueueIndex;
            if (index >= 0)
            {
                _heap[index].ExpiresAt = expiresAt; // not expected (an entry completes once), but kept consistent
                Restore(index);
            }
            else if (index == NotQueued)
            {
                if (_count == _heap.Length)
                {
                    Array.Resize(ref _heap, Math.Max(InitialCapacity, _count * 2));
                }

                _heap[_count] = new Slot(entry, expiresAt);
                entry.QueueIndex = _count;
                _count++;
                SiftUp(_count - 1);
            }

            expired1 = TakeExpired(now);
            expired2 = expired1 is null ? null : TakeExpired(now);
            ShrinkIfSparse();
        }
    }

    /// <summary>Marks <paramref name="entry"/> as gone from the cache and takes it out of the queue if it is queued.</summary>
    internal void Remove(TEntry entry)
    {
        lock (_sync)
        {
            int index = entry.QueueIndex;
            entry.QueueIndex = Gone;
            if (index >= 0)
            {
                RemoveAt(index);
                ShrinkIfSparse();
            }
        }
    }

    private TEntry? TakeExpired(long now)
    {
        if (_count == 0 || _heap[0].ExpiresAt > now)
        {
            return null;
        }

        TEntry oldest = _heap[0].Entry;
        RemoveAt(0);
        oldest.QueueIndex = NotQueued; // still in the cache until the caller removes it
        return oldest;
    }

    private void RemoveAt(int index)
    {
        _count--;
        if (index != _count)
        {
            _heap[index] = _heap[_count];
            _heap[index].Entry.QueueIndex = index;
            _heap[_count] = default; // the queue must not keep a removed entry (and its result) reachable
            Restore(index);
        }
        else
        {
            _heap[_count] = default;
        }
    }

    /// <summary>Gives the memory back once the queue has shrunk to a quarter of its array.</summary>
    private void ShrinkIfSparse()
    {
        if (_heap.Length > InitialCapacity && _count < _heap.Length / 4)
        {
            Array.Resize(ref _heap, Math.Max(InitialCapacity, _heap.Length / 2));
        }
    }

    private void Restore(int index)
    {
        if (index > 0 && _heap[index].ExpiresAt < _heap[(index - 1) / 2].ExpiresAt)
        {
            SiftUp(index);
        }
        else
        {
            SiftDown(index);
        }
    }

    private void SiftUp(int index)
    {
        Slot moving = _heap[index];
        while (index > 0)
        {
            int parent = (index - 1) / 2;
            if (_heap[parent].ExpiresAt <= moving.ExpiresAt)
            {
                break;
            }

            _heap[index] = _heap[parent];
            _heap[index].Entry.QueueIndex = index;
            index = parent;
        }

        _heap[index] = moving;
        moving.Entry.QueueIndex = index;
    }

    private void SiftDown(int index)
    {
        Slot moving = _heap[index];
        while (true)
        {
            int child = (2 * index) + 1;
            if (child >= _count)
            {
                break;
            }

            if (child + 1 < _count && _heap[child + 1].ExpiresAt < _heap[child].ExpiresAt)
            {
                child++;
            }

            if (moving.ExpiresAt <= _heap[child].ExpiresAt)
            {
                break;
            }

            _heap[index] = _heap[child];
            _heap[index].Entry.QueueIndex = index;
            index = child;
        }

        _heap[index] = moving;
        moving.Entry.QueueIndex = index;
    }

    private struct Slot(TEntry entry, long expiresAt)
    {
        internal readonly TEntry Entry = entry;
        internal long ExpiresAt = expiresAt;
    }
}
