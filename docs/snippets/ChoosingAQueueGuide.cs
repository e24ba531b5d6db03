using System.Collections.Concurrent;
using System.Threading.Channels;
using AsyncUtils;

namespace AsyncUtils.Docs.Snippets;

internal static class ChoosingAQueueGuide
{
    public static async Task RunAsync()
    {
        // <QueueChannel>
        // Async on both ends: System.Threading.Channels.
        Channel<int> channel = Channel.CreateBounded<int>(capacity: 100);
        await channel.Writer.WriteAsync(1);
        int fromChannel = await channel.Reader.ReadAsync();
        // </QueueChannel>

        // <QueueBlockingCollection>
        // Blocking threads on both ends: BlockingCollection<T>.
        using var collection = new BlockingCollection<int>(boundedCapacity: 100);
        collection.Add(2);
        int fromCollection = collection.Take();
        // </QueueBlockingCollection>

        // <QueueDual>
        // A thread on one end and async code on the other (or both kinds on each): DualQueue<T>.
        var queue = new DualQueue<int>(capacity: 100);
        queue.Put(3);                              // blocking put, from a plain thread
        int fromQueue = await queue.TakeAsync();   // async take, from a task
        await queue.PutAsync(4);                   // async put
        bool took = queue.TryTake(out int four, TimeSpan.FromSeconds(1)); // blocking take with a timeout

        // It also exposes a ChannelReader for code written against channels.
        await queue.PutAsync(5);
        int fromReader = await queue.Reader.ReadAsync();
        // </QueueDual>

        Check.That(fromChannel == 1 && fromCollection == 2 && fromQueue == 3 && took && four == 4 && fromReader == 5, "each queue hands over its items");
    }
}
