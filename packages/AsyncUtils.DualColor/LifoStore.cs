namespace AsyncUtils;

/// <summary>Last in, first out: takes the item stored last; the oldest is at the other end.</summary>
internal struct LifoStore<T> : IDualStore<T, T>
{
    private RingBuffer<T> _items;

    internal LifoStore(int? capacity)
    {
        _items = new RingBuffer<T>(capacity);
    }

    public readonly int Count => _items.Count;

    public void Add(T item) => _items.AddLast(item);

    public T Take() => _items.RemoveLast();

    public readonly T Peek() => _items.PeekLast();

    public T TakeOldest() => _items.RemoveFirst();

    public readonly T Project(T item) => item;
}
