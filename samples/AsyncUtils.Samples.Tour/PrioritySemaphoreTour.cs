using System.Runtime.CompilerServices;
using AsyncUtils;

namespace AsyncUtils.Samples.Tour;

internal static class PrioritySemaphoreTour
{
    [ModuleInitializer]
    internal static void Register() => TourSections.Add(60, "AsyncUtils.PrioritySemaphore", RunAsync);

    public static async Task RunAsync()
    {
        var semaphore = new PrioritySemaphore(1);
        Console.WriteLine("A PrioritySemaphore with one permit. Lower numbers are served first; ties in arrival order.");
        PrioritySemaphoreReleaser held = await semaphore.AcquireAsync();
        Console.WriteLine($"  The first caller took the permit at once (count now {semaphore.CurrentCount}).");

        var order = new List<string>();
        async Task Job(string name, int priority)
        {
            // The priority is ambient: every wait inside the scope uses it, also after awaits
            // (it lives in an AsyncLocal), and it is restored when the scope ends.
            using (PriorityContext.Enter(priority))
            {
                using (await semaphore.AcquireAsync())
                {
                    lock (order)
                    {
                        order.Add($"{name} (priority {priority})");
                    }
                }
            }
        }

        Task[] jobs = [Job("nightly report", 10), Job("user request", 0), Job("health check", -5), Job("second user request", 0)];
        while (semaphore.WaitingCount < jobs.Length)
        {
            await Task.Delay(1);
        }

        Console.WriteLine($"  {semaphore.WaitingCount} jobs are queued. Releasing the first permit...");
        held.Dispose();
        await Task.WhenAll(jobs);
        Console.WriteLine("  They ran in this order:");
        order.ForEach(o => Console.WriteLine($"    {o}"));
    }
}
