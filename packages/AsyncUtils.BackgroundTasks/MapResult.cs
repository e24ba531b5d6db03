using System.Runtime.ExceptionServices;

namespace AsyncUtils;

/// <summary>
/// The outcome of one item of <see cref="CurrentContextExecutor.Map{TSource, TResult}"/>: its
/// position in the input, the input item, and either its result or the exception it failed with.
/// A failing item is reported here and never stops the other items.
/// </summary>
/// <typeparam name="TSource">The input item type.</typeparam>
/// <typeparam name="TResult">The result type.</typeparam>
public readonly struct MapResult<TSource, TResult> : IEquatable<MapResult<TSource, TResult>>
{
    private readonly TResult _value;

    internal MapResult(long index, TSource item, TResult value, Exception? exception)
    {
        Index = index;
        Item = item;
        _value = value;
        Exception = exception;
    }

    /// <summary>The item's zero-based position in the input sequence.</summary>
    public long Index { get; }

    /// <summary>The input item.</summary>
    public TSource Item { get; }

    /// <summary>Whether the function returned a result for the item.</summary>
    public bool IsSuccess => Exception is null;

    /// <summary>The exception the item failed with, or <see langword="null"/> on success.</summary>
    public Exception? Exception { get; }

    /// <summary>The item's result; for a failed item, rethrows its exception with its original stack trace.</summary>
    public TResult Value
    {
        get
        {
            if (Exception is not null)
            {
                ExceptionDispatchInfo.Throw(Exception);
            }

            return _value;
        }
    }

    /// <summary>Compares two outcomes field by field.</summary>
    /// <param name="left">The first outcome.</param>
    /// <param name="right">The second outcome.</param>
    /// <returns>Whether they are equal.</returns>
    public static bool operator ==(MapResult<TSource, TResult> left, MapResult<TSource, TResult> right) => left.Equals(right);

    /// <summary>Compares two outcomes field by field.</summary>
    /// <param name="left">The first outcome.</param>
    /// <param name="right">The second outcome.</param>
    /// <returns>Whether they differ.</returns>
    public static bool operator !=(MapResult<TSource, TResult> left, MapResult<TSource, TResult> right) => !left.Equals(right);

    /// <inheritdoc/>
    public bool Equals(MapResult<TSource, TResult> other) =>
        Index == other.Index
        && EqualityComparer<TSource>.Default.Equals(Item, other.Item)
        && EqualityComparer<TResult>.Default.Equals(_value, other._value)
        && Equals(Exception, other.Exception);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is MapResult<TSource, TResult> other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Index, Item, _value, Exception);

    /// <inheritdoc/>
    public override string ToString() => IsSuccess ? $"#{Index} {Item} -> {_value}" : $"#{Index} {Item} failed: {Exception!.GetType().Name}: {Exception.Message}";
}
