namespace AsyncUtils;

/// <summary>An element with its priority, as a <see cref="DualPriorityQueue{TElement, TPriority}"/> stores it.</summary>
internal readonly struct PriorityItem<TElement, TPriority>(TElement element, TPriority priority)
{
    internal TElement Element { get; } = element;

    internal TPriority Priority { get; } = priority;
}
