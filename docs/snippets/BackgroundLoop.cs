using AsyncUtils;

namespace AsyncUtils.Docs.Snippets;

internal static class BackgroundLoopSnippets
{
    public static async Task RunAsync()
    {
        // <BackgroundLoopBasic>
        await using var loop = new ThreadedLoop(new ThreadedLoopOptions { ThreadName = "device-io" });

        // Run async work on the loop's own thread; every continuation stays on that thread.
        int threadId = await loop.RunAsync(async ct =>
        {
            await Task.Yield();
            return Environment.CurrentManagedThreadId;
        });

        Console.WriteLine($"ran on the loop thread: {threadId == loop.ManagedThreadId}"); // True
        // Leaving the scope waits for outstanding work, then stops and joins the thread.
        // </BackgroundLoopBasic>

        Check.That(threadId == loop.ManagedThreadId, "work and its continuations run on the loop thread");
    }
}
