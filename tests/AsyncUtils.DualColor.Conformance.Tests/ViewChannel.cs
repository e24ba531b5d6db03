using System.Threading.Channels;

namespace AsyncUtils.Conformance.Tests;

/// <summary>
/// A queue's <c>Reader</c> and <c>Writer</c> views bundled as a <see cref="Channel{T}"/>, so the
/// ported tests read as upstream's (<c>c.Reader</c>, <c>c.Writer</c>). Nothing here adds
/// behaviour: every call goes to the view.
/// </summary>
internal sealed class ViewChannel<T> : Channel<T>
{
    internal ViewChannel(ChannelReader<T> reader, ChannelWriter<T> writer)
    {
        Reader = reader;
        Writer = writer;
    }
}

/// <summary>
/// Adapted: the priority queue's channel writer takes (element, priority) pairs; upstream's tests
/// write plain items, so each write goes through the queue's own <c>Writer</c> view with the
/// priority the fixture gives the item.
/// </summary>
internal sealed class PriorityQueueWriter<T>(DualPriorityQueue<T, int> queue, Func<T, int> priorityOf) : ChannelWriter<T>
{
    private readonly ChannelWriter<(T Element, int Priority)> _writer = queue.Writer;

    public override bool TryWrite(T item) => _writer.TryWrite((item, priorityOf(item)));

    public override ValueTask WriteAsync(T item, CancellationToken cancellationToken = default) =>
        _writer.WriteAsync((item, priorityOf(item)), cancellationToken);

    public override bool TryComplete(Exception? error = null) => _writer.TryComplete(error);

    public override ValueTask<bool> WaitToWriteAsync(CancellationToken cancellationToken = default) =>
        _writer.WaitToWriteAsync(cancellationToken);
}
