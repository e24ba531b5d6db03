using AsyncUtils;

namespace AsyncUtils.Docs.Snippets;

internal static class BackgroundTasksSnippets
{
    public static async Task RunAsync()
    {
        int done = 0;
        AggregateException? failures = null;

        // <TaskGroupBasic>
        try
        {
            await using (var group = new TaskGroup(new TaskGroupOptions { ExitTimeout = TimeSpan.FromSeconds(30) }))
            {
                group.Start(async ct => { await Task.Delay(10, ct); Interlocked.Increment(ref done); });
                group.Start(ct => throw new InvalidOperationException("one task fails"));
                group.Start(async ct => { await Task.Delay(20, ct); Interlocked.Increment(ref done); });
            } // leaving the scope waits for all three; the failure does not cancel the siblings
        }
        catch (AggregateException ex)
        {
            failures = ex; // every failure, thrown once all tasks have finished
        }

        Console.WriteLine($"{done} tasks finished, {failures?.InnerExceptions.Count} failed"); // 2 finished, 1 failed
        // </TaskGroupBasic>

        Check.That(done == 2 && failures?.InnerExceptions.Count == 1, "siblings of a failing task run to completion");

        // <ExecutorMap>
        await using var executor = new CurrentContextExecutor(maxConcurrency: 4);
        var lengths = new List<int>();
        await foreach (MapResult<string, int> result in executor.Map(
            new[] { "a", "bb", "ccc" },
            static async (word, ct) => { await Task.Yield(); return word.Length; }))
        {
            if (result.IsSuccess) { lengths.Add(result.Value); } // results come as they complete
        }
        // </ExecutorMap>

        Check.That(lengths.Order().SequenceEqual([1, 2, 3]), "Map yields every item's result");
    }
}
