using System.Runtime.CompilerServices;
using AsyncUtils;

namespace AsyncUtils.Samples.Tour;

internal static class BackgroundLoopTour
{
    [ModuleInitializer]
    internal static void Register() => TourSections.Add(70, "AsyncUtils.BackgroundLoop", RunAsync);

    public static async Task RunAsync()
    {
        var loop = new ThreadedLoop(new ThreadedLoopOptions { ThreadName = "tour-loop" });
        loop.UnhandledException += (_, e) => Console.WriteLine($"  (UnhandledException event on '{Thread.CurrentThread.Name}': {e.Exception.Message})");
        Console.WriteLine($"A ThreadedLoop started its own thread, '{loop.Name}'.");

        // State owned by the loop: only code running on the loop touches it, so it needs no lock.
        var log = new List<string>();
        string where = await loop.RunAsync(async ct =>
        {
            log.Add($"started on '{Thread.CurrentThread.Name}'");
            await Task.Delay(5, ct);
            log.Add($"after an await, still on '{Thread.CurrentThread.Name}'");
            await Task.Run(() => { }, ct);
            log.Add($"after awaiting pool work, still on '{Thread.CurrentThread.Name}'");
            return Thread.CurrentThread.Name!;
        });
        foreach (string line in log)
        {
            Console.WriteLine($"  async work {line}");
        }

        Console.WriteLine($"RunAsync returned '{where}' to the caller, who is back on its own thread.");

        Console.WriteLine("Post is fire-and-forget. A posted action that throws does not kill the loop:");
        loop.Post(_ => throw new InvalidOperationException("a posted action failed"));
        loop.WaitAll(TimeSpan.FromSeconds(5));
        Console.WriteLine($"  the loop still answers: {await loop.Schedule(_ => 6 * 7)}");

        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task longRunning = loop.Schedule(async ct =>
        {
            started.SetResult();
            await Task.Delay(Timeout.Infinite, ct);
        });
        await started.Task;
        Console.WriteLine($"One long-running job is outstanding (OutstandingCount = {loop.OutstandingCount}); WaitAll(10 ms) says {loop.WaitAll(TimeSpan.FromMilliseconds(10))}.");
        loop.CancelAll();
        Console.WriteLine($"CancelAll() cancelled its token: WaitAll says {loop.WaitAll(TimeSpan.FromSeconds(5))}, and its task is {longRunning.Status}.");

        await loop.DisposeAsync();
        Console.WriteLine("Disposal waited for outstanding work, stopped the loop and joined its thread.");
        try
        {
            loop.Post(_ => { });
        }
        catch (ObjectDisposedException)
        {
            Console.WriteLine("Scheduling after disposal throws ObjectDisposedException.");
        }
    }
}
