using AsyncUtils;

namespace AsyncUtils.Docs.Snippets;

internal static class PrioritySemaphoreSnippets
{
    public static async Task RunAsync()
    {
        var order = new List<string>();

        // <PrioritySemaphoreBasic>
        var semaphore = new PrioritySemaphore(initialCount: 1);
        PrioritySemaphoreReleaser held = await semaphore.AcquireAsync(); // take the only permit

        // Queue a batch job (priority 10) and then an interactive request (priority 0):
        // lower numbers go first, whatever the arrival order.
        Task batch = Task.Run(async () =>
        {
            using PriorityScope scope = PriorityContext.Enter(10); // ambient for this flow
            using PrioritySemaphoreReleaser permit = await semaphore.AcquireAsync();
            lock (order) { order.Add("batch"); }
        });
        while (semaphore.WaitingCount < 1) { await Task.Yield(); }

        Task interactive = Task.Run(async () =>
        {
            using PrioritySemaphoreReleaser permit = await semaphore.AcquireAsync(priority: 0, CancellationToken.None);
            lock (order) { order.Add("interactive"); }
        });
        while (semaphore.WaitingCount < 2) { await Task.Yield(); }

        held.Dispose(); // release: the interactive request is served first
        await Task.WhenAll(batch, interactive);
        Console.WriteLine(string.Join(", ", order)); // interactive, batch
        // </PrioritySemaphoreBasic>

        Check.That(order.SequenceEqual(["interactive", "batch"]), "the lower priority number is granted first");
    }
}
