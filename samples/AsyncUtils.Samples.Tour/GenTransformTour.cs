using System.Runtime.CompilerServices;
using AsyncUtils;

namespace AsyncUtils.Samples.Tour;

internal static class GenTransformTour
{
    [ModuleInitializer]
    internal static void Register() => TourSections.Add(110, "AsyncUtils.GenTransform", RunAsync);

    // A blocking source, as a file or socket reader would be: each line takes a moment to "read".
    private static IEnumerable<string> ReadLines(ThreadedSourceContext context)
    {
        try
        {
            for (int i = 1; ; i++)
            {
                Console.WriteLine($"  source (own thread): reading line {i}");
                context.CancellationToken.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(5)); // blocks, but honours the token
                yield return $"line {i}";
            }
        }
        finally
        {
            string why = context.ConsumerException is { } ex ? $"the consumer failed with \"{ex.Message}\"" : "the consumer stopped early";
            Console.WriteLine($"  source: finally block runs on its own thread; token cancelled = {context.CancellationToken.IsCancellationRequested}; {why}");
        }
    }

    public static async Task RunAsync()
    {
        Console.WriteLine("A blocking IEnumerable consumed with await foreach. The source runs on its own thread");
        Console.WriteLine("(never a thread-pool thread) and, by default, is asked for a line only when the loop asks:");
        var lines = ThreadedAsyncEnumerable.CreateWithContext(ReadLines);
        await foreach (string line in lines)
        {
            Console.WriteLine($"  consumer: got {line}");
            if (line == "line 3")
            {
                Console.WriteLine("  consumer: break");
                break;
            }
        }

        Console.WriteLine("The loop has ended: the source's finally block ran before the break finished.");

        Console.WriteLine();
        Console.WriteLine("ForEachAsync is the form that also tells the source why the consumer left:");
        try
        {
            await lines.ForEachAsync((line, _) =>
            {
                Console.WriteLine($"  consumer: got {line}");
                return line == "line 2" ? throw new InvalidOperationException("cannot parse line 2") : ValueTask.CompletedTask;
            });
        }
        catch (InvalidOperationException ex)
        {
            Console.WriteLine($"ForEachAsync rethrew \"{ex.Message}\" after the source had cleaned up.");
        }

        Console.WriteLine();
        Console.WriteLine("With Prefetch = 4 the source may run up to 4 lines ahead of the consumer, for throughput:");
        int produced = 0;
        IEnumerable<int> Numbers()
        {
            for (int i = 1; i <= 6; i++)
            {
                Interlocked.Increment(ref produced);
                yield return i;
            }
        }

        await using IAsyncEnumerator<int> e = ThreadedAsyncEnumerable.Create(Numbers(), new ThreadedAsyncEnumerableOptions { Prefetch = 4 }).GetAsyncEnumerator();
        await e.MoveNextAsync();
        for (int wait = 0; wait < 200 && Volatile.Read(ref produced) < 5; wait++)
        {
            await Task.Delay(1);
        }

        Console.WriteLine($"  after taking item {e.Current}, the source has produced {Volatile.Read(ref produced)} items (1 taken + 4 ahead), and waits.");
    }
}
