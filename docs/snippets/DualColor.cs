using AsyncUtils;

namespace AsyncUtils.Docs.Snippets;

internal static class DualColorSnippets
{
    public static async Task RunAsync()
    {
        // <DualQueueBasic>
        var queue = new DualQueue<int>(capacity: 100); // a full queue makes putters wait

        // A plain thread produces with blocking calls...
        var producer = new Thread(() =>
        {
            for (int i = 1; i <= 5; i++)
            {
                queue.Put(i); // blocks while the queue is full
            }

            queue.Complete(); // no more items: consumers finish once the queue is empty
        });
        producer.Start();

        // ...while async code consumes the same queue without blocking a thread.
        int sum = 0;
        await foreach (int item in queue.ReadAllAsync())
        {
            sum += item;
        }

        Console.WriteLine($"sum = {sum}"); // 15
        // </DualQueueBasic>

        producer.Join();
        Check.That(sum == 15, "every item put by the thread is read by the async consumer");
    }
}
