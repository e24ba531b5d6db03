using System.Runtime.CompilerServices;
using AsyncUtils;

namespace AsyncUtils.Samples.Tour;

internal static class DualColorTour
{
    private static readonly string[] Orders = ["soup", "salad", "steak", "cake"];

    [ModuleInitializer]
    internal static void Register() => TourSections.Add(100, "AsyncUtils.DualColor", RunAsync);

    public static async Task RunAsync()
    {
        Console.WriteLine("A DualQueue with room for 2 items, shared by a blocking thread and async code.");
        var queue = new DualQueue<string>(capacity: 2);

        // A plain thread produces with blocking Put: it blocks whenever the queue is full.
        var producer = new Thread(() =>
        {
            foreach (string order in Orders)
            {
                queue.Put(order);
                Console.WriteLine($"  [thread] put '{order}'");
            }

            queue.Complete();
            Console.WriteLine("  [thread] completed the queue: no more puts");
        });
        producer.Start();

        // Async code consumes; each await is a wait that blocks no thread.
        await foreach (string order in queue.ReadAllAsync())
        {
            Console.WriteLine($"  [async]  took '{order}'");
        }

        producer.Join();
        Console.WriteLine("  [async]  the loop ended once the queue was completed and empty.");

        Console.WriteLine();
        Console.WriteLine("Waiters are served in the order they began waiting, whatever their color:");
        var line = new DualQueue<int>();
        var blockedTaker = new Thread(() => Console.WriteLine($"  the blocked thread (waiting first) got {line.Take()}"));
        blockedTaker.Start();
        while (line.WaitingTakers == 0)
        {
            Thread.Yield(); // only so the tour can be sure the thread is waiting before it goes on
        }

        ValueTask<int> awaitingTake = line.TakeAsync();
        Console.WriteLine($"  {line.WaitingTakers} takers wait: a blocked thread, then an awaiting task.");
        line.Put(1);
        line.Put(2);
        blockedTaker.Join();
        Console.WriteLine($"  the awaiting task (waiting second) got {await awaitingTake}");

        Console.WriteLine();
        Console.WriteLine("A bounded DualPriorityQueue that drops the oldest item when full:");
        var jobs = new DualPriorityQueue<string, int>(new DualPriorityQueueOptions<string, int>
        {
            Capacity = 3,
            FullMode = QueueFullMode.DropOldest,
            OnDropped = (job, priority) => Console.WriteLine($"  (full: dropped '{job}', priority {priority}, the oldest)"),
        });
        jobs.Put("backup", 5);
        jobs.Put("page on-call", 0);
        jobs.Put("rotate logs", 9);
        jobs.Put("send report", 3);
        Console.Write("  taken smallest priority first:");
        while (jobs.TryTake(out string? job))
        {
            Console.Write($" '{job}'");
        }

        Console.WriteLine();
    }
}
