namespace AsyncUtils;

/// <summary>
/// The item storage a <see cref="DualEngine{T, TOut, TStore}"/> is parameterised by: the only
/// thing that differs between the FIFO, LIFO and priority queues. Implemented by structs so the
/// engine's calls are specialised and inlined. Every member is called under the engine's lock.
/// </summary>
/// <typeparam name="T">What a put stores.</typeparam>
/// <typeparam name="TOut">What a take returns.</typeparam>
internal interface IDualStore<T, TOut>
{
    public int Count { get; }

    /// <summary>Stores an item; the engine has checked there is room.</summary>
    public void Add(T item);

    /// <summary>Removes and returns the next item in take order; <see cref="Count"/> is positive.</summary>
    public TOut Take();

    /// <summary>Returns, without removing it, the item <see cref="Take"/> would return next; <see cref="Count"/> is positive.</summary>
    public TOut Peek();

    /// <summary>Removes and returns the item that was stored first; <see cref="Count"/> is positive.</summary>
    public T TakeOldest();

    /// <summary>What a taker receives for a put item handed to it directly.</summary>
    public TOut Project(T item);
}
