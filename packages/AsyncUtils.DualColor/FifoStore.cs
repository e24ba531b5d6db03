namespace AsyncUtils;

/// <summary>First in, first out: takes the item stored first.</summary>
internal struct FifoStore<T> : IDualStore<T, T>
{
    private RingBuffer<T> _items;

    internal FifoStore(int? capacity)
    {
        _items = new RingBuffer<T>(capacity);
    }

    public readonly int Count => _items.Count;

    public void Add(T item) => _items.AddLast(item);

    public T Take() => _items.RemoveFirst();

    public readonly T Peek() => _items.PeekFirst();

    public T TakeOldest() => _items.RemoveFirst();

    public readonly T Project(T item) => item;
}
