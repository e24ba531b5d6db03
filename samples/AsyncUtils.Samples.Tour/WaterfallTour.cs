using System.Runtime.CompilerServices;
using AsyncUtils;
using Microsoft.Extensions.Time.Testing;

namespace AsyncUtils.Samples.Tour;

internal static class WaterfallTour
{
    [ModuleInitializer]
    internal static void Register() => TourSections.Add(130, "AsyncUtils.Waterfall", RunAsync);

    public static async Task RunAsync()
    {
        // A fake clock stands in for time passing, so the tour does not have to wait.
        var clock = new FakeTimeProvider();
        using var delivered = new SemaphoreSlim(0);
        var waterfall = new Waterfall<string>(
            (batch, _) =>
            {
                Console.WriteLine($"  callback (thread pool) received [{string.Join(", ", batch)}]");
                delivered.Release();
                return batch.Contains("poison") ? throw new FormatException("cannot store 'poison'") : ValueTask.CompletedTask;
            },
            new WaterfallOptions { MaxBatchSize = 3, MaxWait = TimeSpan.FromSeconds(1), TimeProvider = clock });
        waterfall.CallbackFailed += (_, e) => Console.WriteLine($"  CallbackFailed event: {e.Exception.Message} (batch of {e.Batch.Count}, items count as handled)");

        Console.WriteLine("A Waterfall that sends batches of at most 3 items, or whatever it holds 1 s after a batch's first item.");
        waterfall.Start();
        foreach (string item in new[] { "a", "b", "c", "d", "e", "f", "g" })
        {
            waterfall.Put(item);
        }

        Console.WriteLine("Put a..g: two full batches go out at once, without waiting for the clock:");
        await WaitAsync(delivered, 2);

        Console.WriteLine("g waits for its batch to fill... one second later it goes out alone:");
        clock.Advance(TimeSpan.FromSeconds(1));
        await WaitAsync(delivered, 1);

        Console.WriteLine("A callback that throws is reported and the waterfall goes on:");
        waterfall.Put("poison");
        clock.Advance(TimeSpan.FromSeconds(1));
        await WaitAsync(delivered, 1);

        waterfall.Put("h");
        waterfall.Put("i");
        Console.WriteLine("Put h and i, then StopAsync: intake stops and what is held is delivered before the stop completes:");
        await waterfall.StopAsync();
        Console.WriteLine($"  Put after the stop is refused: TryPut returned {waterfall.TryPut("j")}.");
        Console.WriteLine($"Counters: {waterfall.GetStatistics()}");
        Console.WriteLine("While empty, a waterfall has no timer armed and no thread: idle costs nothing.");
        await waterfall.DisposeAsync();
    }

    private static async Task WaitAsync(SemaphoreSlim delivered, int batches)
    {
        for (int i = 0; i < batches; i++)
        {
            await delivered.WaitAsync(TimeSpan.FromSeconds(10));
        }

        await Task.Delay(10); // let the event handler's line print before the next step
    }
}
