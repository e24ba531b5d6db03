using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;

namespace AsyncUtils;

/// <summary>
/// A queue seen as a <see cref="ChannelReader{T}"/>. <see cref="ReadAsync"/> and
/// <see cref="ReadAllAsync"/> are the queue's own fair takes; <see cref="WaitToReadAsync"/>
/// waits for an item to be in the queue without taking it (an item put while a taker waits goes
/// to that taker, so it does not wake this wait), as a channel's does. <see cref="TryPeek"/>
/// reads, under the queue's lock, the item the next take would return: the head of a FIFO queue,
/// the top of a stack, the smallest priority of a priority queue.
/// </summary>
internal sealed class DualChannelReader<T, TOut, TStore>(DualEngine<T, TOut, TStore> engine) : ChannelReader<TOut>
    where TStore : struct, IDualStore<T, TOut>
{
    public override Task Completion => engine.Completion;

    public override bool CanCount => true;

    public override int Count => engine.Count;

    public override bool CanPeek => true;

    public override bool TryPeek([MaybeNullWhen(false)] out TOut item) => engine.TryPeek(out item);

    public override bool TryRead([MaybeNullWhen(false)] out TOut item) => engine.TryTake(out item);

    public override ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) =>
        engine.WaitToTakeAsync(cancellationToken);

    public override ValueTask<TOut> ReadAsync(CancellationToken cancellationToken = default) =>
        engine.TakeAsync(cancellationToken);

    public override IAsyncEnumerable<TOut> ReadAllAsync(CancellationToken cancellationToken = default) =>
        engine.ReadAllAsync(cancellationToken);
}
