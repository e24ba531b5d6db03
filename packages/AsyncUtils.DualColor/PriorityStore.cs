namespace AsyncUtils;

/// <summary>
/// A binary min-heap ordered by priority and then by the order items were stored, so equal
/// priorities come out first in, first out. Add and Take are O(log n); TakeOldest is O(n).
/// </summary>
internal struct PriorityStore<TElement, TPriority> : IDualStore<PriorityItem<TElement, TPriority>, TElement>
{
    private readonly IComparer<TPriority>? _comparer; // null: Comparer<TPriority>.Default, devirtualised for value types
    private readonly int _maxLength;
    private Entry[] _heap;
    private int _count;
    private long _sequence;

    internal PriorityStore(int? capacity, IComparer<TPriority>? comparer)
    {
        _comparer = ReferenceEquals(comparer, Comparer<TPriority>.Default) ? null : comparer;
        _maxLength = capacity ?? Array.MaxLength;
        _heap = new Entry[Math.Min(_maxLength, 16)];
    }

    public readonly int Count => _count;

    public void Add(PriorityItem<TElement, TPriority> item)
    {
        if (_count == _heap.Length)
        {
            Grow();
        }

        var entry = new Entry(item.Element, item.Priority, _sequence++);
        SiftUp(_count++, entry);
    }

    public TElement Take()
    {
        TElement element = _heap[0].Element;
        RemoveAt(0);
        return element;
    }

    public readonly TElement Peek() => _heap[0].Element;

    public PriorityItem<TElement, TPriority> TakeOldest()
    {
        Entry[] heap = _heap;
        int oldest = 0;
        for (int i = 1; i < _count; i++)
        {
            if (heap[i].Sequence < heap[oldest].Sequence)
            {
                oldest = i;
            }
        }

        Entry entry = heap[oldest];
        RemoveAt(oldest);
        return new PriorityItem<TElement, TPriority>(entry.Element, entry.Priority);
    }

    public readonly TElement Project(PriorityItem<TElement, TPriority> item) => item.Element;

    private void RemoveAt(int index)
    {
        int last = --_count;
        Entry moved = _heap[last];
        _heap[last] = default;
        if (index == last)
        {
            return;
        }

        if (index > 0 && Less(moved, _heap[(index - 1) >> 1]))
        {
            SiftUp(index, moved);
        }
        else
        {
            SiftDown(index, moved);
        }
    }

    private readonly void SiftUp(int index, Entry entry)
    {
        Entry[] heap = _heap;
        while (index > 0)
        {
            int parent = (index - 1) >> 1;
            if (!Less(entry, heap[parent]))
            {
                break;
            }

            heap[index] = heap[parent];
            index = parent;
        }

        heap[index] = entry;
    }

    private readonly void SiftDown(int index, Entry entry)
    {
        Entry[] heap = _heap;
        int count = _count;
        while (true)
        {
            int child = (index << 1) + 1;
            if (child >= count)
            {
                break;
            }

            if (child + 1 < count && Less(heap[child + 1], heap[child]))
            {
                child++;
            }

            if (!Less(heap[child], entry))
            {
                break;
            }

            heap[index] = heap[child];
            index = child;
        }

        heap[index] = entry;
    }

    private readonly bool Less(in Entry a, in Entry b)
    {
        int c = _comparer is null
            ? Comparer<TPriority>.Default.Compare(a.Priority, b.Priority)
            : _comparer.Compare(a.Priority, b.Priority);
        return c < 0 || (c == 0 && a.Sequence < b.Sequence);
    }

    private void Grow()
    {
        int length = (int)Math.Min((long)_heap.Length * 2, _maxLength);
        if (length <= _heap.Length)
        {
            throw new InvalidOperationException("The queue cannot grow any further.");
        }

        Array.Resize(ref _heap, length);
    }

    private readonly struct Entry(TElement element, TPriority priority, long sequence)
    {
        internal TElement Element { get; } = element;

        internal TPriority Priority { get; } = priority;

        internal long Sequence { get; } = sequence;
    }
}
