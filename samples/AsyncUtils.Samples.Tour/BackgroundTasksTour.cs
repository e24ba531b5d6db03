using System.Runtime.CompilerServices;
using AsyncUtils;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Samples.Tour;

internal static class BackgroundTasksTour
{
    [ModuleInitializer]
    internal static void Register() => TourSections.Add(80, "AsyncUtils.BackgroundTasks", RunAsync);

    public static async Task RunAsync()
    {
        Console.WriteLine("A TaskGroup: leaving the 'await using' block waits for every task in it.");
        try
        {
            var group = new TaskGroup();
            await using (group)
            {
                group.Start(async ct => { await Task.Delay(20, ct); Console.WriteLine("  task A finished (its sibling's failure did not cancel it)"); });
                group.Start(async ct => { await Task.Delay(5, ct); throw new InvalidOperationException("task B failed"); });
                group.Start(async ct => { await Task.Delay(10, ct); Console.WriteLine("  task C finished"); });
            }
        }
        catch (AggregateException ex)
        {
            Console.WriteLine($"  after all tasks ended, leaving the block threw the failures: [{string.Join(", ", ex.InnerExceptions.Select(e => e.Message))}]");
        }

        // A fake clock shows the exit timeout without waiting for it.
        var clock = new FakeTimeProvider();
        var slowGroup = new TaskGroup(new TaskGroupOptions { ExitTimeout = TimeSpan.FromSeconds(30), TimeProvider = clock });
        var cleanedUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        slowGroup.Start(async ct =>
        {
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            finally
            {
                Console.WriteLine("  the stuck task saw its token cancelled and ran its cleanup");
                cleanedUp.SetResult();
            }
        });
        Console.WriteLine("A group with a 30 s exit timeout holds a task that never ends on its own.");
        ValueTask leaving = slowGroup.DisposeAsync();
        clock.Advance(TimeSpan.FromSeconds(30));
        await cleanedUp.Task;
        await leaving;
        Console.WriteLine("  after 30 (fake) seconds the exit cancelled the group's token and waited for the cleanup.");

        Console.WriteLine();
        Console.WriteLine("A CurrentContextExecutor with at most 3 calls at once maps 10 items, pulling the input lazily:");
        await using var executor = new CurrentContextExecutor(maxConcurrency: 3);
        int pulled = 0;
        IEnumerable<int> Input()
        {
            for (int i = 1; i <= 10; i++)
            {
                pulled++;
                yield return i;
            }
        }

        var completionOrder = new List<string>();
        await foreach (MapResult<int, int> r in executor.Map(Input(), async (x, ct) =>
        {
            await Task.Delay(x % 3 == 0 ? 15 : 1, ct);
            return x == 7 ? throw new FormatException("seven is unlucky") : x * x;
        }))
        {
            completionOrder.Add(r.IsSuccess ? $"{r.Item}->{r.Value}" : $"{r.Item}:failed");
        }

        Console.WriteLine($"  results as they completed: {string.Join(" ", completionOrder)}");
        Console.WriteLine("  item 7 failed and was reported as its own result; the others went on.");
        Console.WriteLine($"  the input was pulled one item per free slot ({pulled} items in all), never all at once.");

        var inOrder = new List<int>();
        await foreach (MapResult<int, int> r in executor.MapOrdered(Enumerable.Range(1, 10), async (x, ct) =>
        {
            await Task.Delay(x % 3 == 0 ? 15 : 1, ct);
            return x * 10;
        }, lookAhead: 4))
        {
            inOrder.Add(r.Value);
        }

        Console.WriteLine($"  MapOrdered (look-ahead 4) yields input order: {string.Join(" ", inOrder)}");
        Task<string> submitted = executor.Submit(async ct => { await Task.Delay(1, ct); return "done"; });
        Console.WriteLine($"  Submit returns a task: {await submitted}. Leaving the block waits for everything submitted.");
    }
}
