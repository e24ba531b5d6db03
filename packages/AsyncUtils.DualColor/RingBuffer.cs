using System.Runtime.CompilerServices;

namespace AsyncUtils;

/// <summary>A growable circular buffer used as a deque: add at the end, remove at either end. Not thread-safe.</summary>
internal struct RingBuffer<T>
{
    private readonly int _maxLength;
    private T[] _items;
    private int _head;
    private int _count;

    internal RingBuffer(int? capacity)
    {
        _maxLength = capacity ?? Array.MaxLength;
        _items = new T[Math.Min(_maxLength, 32)];
    }

    internal readonly int Count => _count;

    internal void AddLast(T item)
    {
        T[] items = _items;
        if (_count == items.Length)
        {
            items = Grow();
        }

        int tail = _head + _count;
        if (tail >= items.Length)
        {
            tail -= items.Length;
        }

        items[tail] = item;
        _count++;
    }

    internal readonly T PeekFirst() => _items[_head];

    internal readonly T PeekLast()
    {
        int tail = _head + _count - 1;
        return _items[tail >= _items.Length ? tail - _items.Length : tail];
    }

    internal T RemoveFirst()
    {
        T[] items = _items;
        int head = _head;
        T item = items[head];
        if (RuntimeHelpers.IsReferenceOrContainsReferences<T>())
        {
            items[head] = default!;
        }

        head++;
        _head = head == items.Length ? 0 : head;
        _count--;
        return item;
    }

    internal T RemoveLast()
    {
        T[] items = _items;
        int tail = _head + _count - 1;
        if (tail >= items.Length)
        {
            tail -= items.Length;
        }

        T item = items[tail];
        if (RuntimeHelpers.IsReferenceOrContainsReferences<T>())
        {
            items[tail] = default!;
        }

        _count--;
        return item;
    }

    private T[] Grow()
    {
        int length = (int)Math.Min((long)_items.Length * 2, _maxLength);
        if (length <= _items.Length)
        {
            throw new InvalidOperationException("The queue cannot grow any further.");
        }

        var items = new T[length];
        int firstPart = Math.Min(_count, _items.Length - _head);
        Array.Copy(_items, _head, items, 0, firstPart);
        Array.Copy(_items, 0, items, firstPart, _count - firstPart);
        _items = items;
        _head = 0;
        return items;
    }
}
