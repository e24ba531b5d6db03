using AsyncUtils.BackgroundTasks;
using AsyncUtils.Waterfall;

namespace AsyncUtils.Docs.Snippets;

internal static class GracefulShutdownGuide
{
    public static async Task RunAsync()
    {
        using var stopping = new CancellationTokenSource();
        int written = 0;

        // <WorkerShutdown>
        // The worker: a producer loop feeds a batcher; the batcher writes to storage in batches.
        var sink = new Waterfall<string>(
            async (batch, ct) => { await Task.Yield(); Interlocked.Add(ref written, batch.Count); },
            new WaterfallOptions
            {
                MaxBatchSize = 500,
                MaxWait = TimeSpan.FromMilliseconds(200),
                FinalizeTimeout = TimeSpan.FromSeconds(10), // how long the final flush may take
            });
        sink.Start();

        await using (var group = new TaskGroup(new TaskGroupOptions { ExitTimeout = TimeSpan.FromSeconds(20) }))
        {
            // A producer that runs until shutdown is requested (stopping: Ctrl+C, SIGTERM, ...).
            group.Start(async ct =>
            {
                using var both = CancellationTokenSource.CreateLinkedTokenSource(ct, stopping.Token);
                int n = 0;
                while (!both.IsCancellationRequested)
                {
                    sink.Put($"reading {n++}");
                    await Task.Yield();
                }
            });

            stopping.CancelAfter(TimeSpan.FromMilliseconds(50)); // stands for the shutdown signal
        } // 1. the group waits for its tasks (cancelling them after ExitTimeout)

        await sink.StopAsync(); // 2. then every item already put is delivered, bounded by FinalizeTimeout
        await sink.DisposeAsync();
        // </WorkerShutdown>

        WaterfallStatistics stats = sink.GetStatistics();
        Check.That(written > 0 && written == stats.ItemsBatched, "every item put before the stop is written");
    }
}
