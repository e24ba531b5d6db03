using System.Runtime.CompilerServices;

namespace AsyncUtils.Samples.Tour;

internal static class MergeGensTour
{
    [ModuleInitializer]
    internal static void Register() => TourSections.Add(115, "AsyncUtils.MergeGens", RunAsync);

    // A feed that says what is asked of it and when it is disposed.
    private static async IAsyncEnumerable<string> Feed(string name, int count, int failAt = 0, bool ready = false)
    {
        try
        {
            for (int i = 1; i <= count; i++)
            {
                if (!ready)
                {
                    await Task.Yield(); // stands for waiting on a socket or a queue
                }

                if (i == failAt)
                {
                    throw new InvalidOperationException($"{name} lost its connection");
                }

                Console.WriteLine($"  {name}: produced {name}{i}");
                yield return $"{name}{i}";
            }
        }
        finally
        {
            Console.WriteLine($"  {name}: disposed");
        }
    }

    public static async Task RunAsync()
    {
        Console.WriteLine("Three feeds, one loop: items in arrival order, each feed asked for its next item only");
        Console.WriteLine("when the loop asks. The loop breaks after 4 items; every feed is stopped and disposed:");
        int taken = 0;
        await foreach (string item in AsyncMerge.Merge(Feed("a", 100), Feed("b", 100), Feed("c", 100)))
        {
            Console.WriteLine($"  consumer: got {item}");
            if (++taken == 4)
            {
                Console.WriteLine("  consumer: break");
                break;
            }
        }

        Console.WriteLine();
        Console.WriteLine("MergeErrorMode.Delay: a failing feed ends, the others go on, the failures come at the end:");
        var received = new List<string>();
        try
        {
            await foreach (string item in AsyncMerge.Merge([Feed("x", 3, failAt: 2), Feed("y", 3)], MergeErrorMode.Delay))
            {
                received.Add(item);
            }
        }
        catch (AggregateException ex)
        {
            Console.WriteLine($"  got {string.Join(", ", received)}; then an AggregateException of {ex.InnerExceptions.Count}: \"{ex.InnerExceptions[0].Message}\"");
        }

        Console.WriteLine();
        Console.WriteLine("MergeBatches: what is ready together comes together (at most one item per feed per batch).");
        Console.WriteLine("These two feeds always have an item ready:");
        await foreach (IReadOnlyList<string> batch in AsyncMerge.MergeBatches(Feed("p", 2, ready: true), Feed("q", 3, ready: true)))
        {
            Console.WriteLine($"  consumer: batch [{string.Join(", ", batch)}]");
        }
    }
}
