using System.Threading.Channels;

namespace AsyncUtils;

/// <summary>
/// A queue seen as a <see cref="ChannelWriter{T}"/>. <see cref="WriteAsync"/> is the queue's own
/// fair put; <see cref="WaitToWriteAsync"/> waits for room without putting (room freed while a
/// putter waits goes to that putter, so it does not wake this wait), as a channel's does.
/// </summary>
internal sealed class DualChannelWriter<T, TStore>(DualEngine<T, T, TStore> engine) : ChannelWriter<T>
    where TStore : struct, IDualStore<T, T>
{
    public override bool TryWrite(T item) => engine.TryPut(item);

    public override ValueTask<bool> WaitToWriteAsync(CancellationToken cancellationToken = default) =>
        engine.WaitToPutAsync(cancellationToken);

    public override ValueTask WriteAsync(T item, CancellationToken cancellationToken = default) =>
        engine.PutAsync(item, cancellationToken);

    public override bool TryComplete(Exception? error = null) => engine.TryComplete(error);
}
