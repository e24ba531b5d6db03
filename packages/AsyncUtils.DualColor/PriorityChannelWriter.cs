using System.Threading.Channels;

namespace AsyncUtils;

/// <summary>
/// A priority queue seen as a <see cref="ChannelWriter{T}"/> of (element, priority) pairs.
/// <see cref="WriteAsync"/> is the queue's own fair put; <see cref="WaitToWriteAsync"/> waits for
/// room without putting, as a channel's does.
/// </summary>
internal sealed class PriorityChannelWriter<TElement, TPriority>(
    DualEngine<PriorityItem<TElement, TPriority>, TElement, PriorityStore<TElement, TPriority>> engine)
    : ChannelWriter<(TElement Element, TPriority Priority)>
{
    public override bool TryWrite((TElement Element, TPriority Priority) item) =>
        engine.TryPut(new(item.Element, item.Priority));

    public override ValueTask<bool> WaitToWriteAsync(CancellationToken cancellationToken = default) =>
        engine.WaitToPutAsync(cancellationToken);

    public override ValueTask WriteAsync((TElement Element, TPriority Priority) item, CancellationToken cancellationToken = default) =>
        engine.PutAsync(new(item.Element, item.Priority), cancellationToken);

    public override bool TryComplete(Exception? error = null) => engine.TryComplete(error);
}
