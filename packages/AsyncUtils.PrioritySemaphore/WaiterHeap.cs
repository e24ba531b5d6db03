namespace AsyncUtils;

/// <summary>
/// A binary min-heap of waiters ordered by (priority, arrival), each knowing its index so that a
/// cancelled waiter is removed in O(log n). Not thread-safe: used under the semaphore's lock.
/// </summary>
internal sealed class WaiterHeap
{
    private PriorityWaiter[] _items = [];

    internal int Count { get; private set; }

    internal PriorityWaiter Peek() => _items[0];

    internal void Push(PriorityWaiter waiter)
    {
        if (Count == _items.Length)
        {
            Array.Resize(ref _items, Math.Max(4, _items.Length * 2));
        }

        _items[Count] = waiter;
        waiter.HeapIndex = Count;
        Count++;
        SiftUp(Count - 1);
    }

    internal PriorityWaiter Pop()
    {
        PriorityWaiter top = _items[0];
        RemoveAt(0);
        return top;
    }

    internal void Remove(PriorityWaiter waiter)
    {
        if (waiter.HeapIndex >= 0)
        {
            RemoveAt(waiter.HeapIndex);
        }
    }

    private void RemoveAt(int index)
    {
        PriorityWaiter removed = _items[index];
        Count--;
        if (index != Count)
        {
            PriorityWaiter last = _items[Count];
            _items[index] = last;
            last.HeapIndex = index;
            _items[Count] = null!;
            if (index > 0 && last.IsBefore(_items[(index - 1) / 2]))
            {
                SiftUp(index);
            }
            else
            {
                SiftDown(index);
            }
        }
        else
        {
            _items[Count] = null!;
        }

        removed.HeapIndex = -1;
        if (Count == 0 && _items.Length > 64)
        {
            _items = [];
        }
    }

    private void SiftUp(int index)
    {
        PriorityWaiter item = _items[index];
        while (index > 0)
        {
            int parent = (index - 1) / 2;
            if (!item.IsBefore(_items[parent]))
            {
                break;
            }

            _items[index] = _items[parent];
            _items[index].HeapIndex = index;
            index = parent;
        }

        _items[index] = item;
        item.HeapIndex = index;
    }

    private void SiftDown(int index)
    {
        PriorityWaiter item = _items[index];
        while (true)
        {
            int child = (2 * index) + 1;
            if (child >= Count)
            {
                break;
            }

            if (child + 1 < Count && _items[child + 1].IsBefore(_items[child]))
            {
                child++;
            }

            if (!_items[child].IsBefore(item))
            {
                break;
            }

            _items[index] = _items[child];
            _items[index].HeapIndex = index;
            index = child;
        }

        _items[index] = item;
        item.HeapIndex = index;
    }
}
