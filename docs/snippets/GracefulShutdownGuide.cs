using AsyncUtils;

namespace AsyncUtils.Docs.Snippets;

internal static class GracefulShutdownGuide
{
    public static async Task RunAsync()
    {
        int written = 0;
        Func<IReadOnlyList<string>, CancellationToken, ValueTask> writeBatch = async (batch, ct) =>
        {
            await Task.Yield(); // stands for one INSERT of the whole batch
            Interlocked.Add(ref written, batch.Count);
        };

        // <WorkerShutdown>
        // The worker: producers feed a batcher; the batcher writes to storage in batches.
        var sink = new Waterfall<string>(writeBatch, new WaterfallOptions
        {
            MaxBatchSize = 500,
            MaxWait = TimeSpan.FromMilliseconds(200),
            FinalizeTimeout = TimeSpan.FromSeconds(10), // how long the final flush may take
        });
        var producers = new TaskGroup(new TaskGroupOptions { ExitTimeout = TimeSpan.FromSeconds(15) });
        var host = new SignalHost(); // SIGINT and SIGTERM start the shutdown

        host.AddStartupJob(sink.Start)
            .AddStartupJob(() => producers.Start(async ct =>
            {
                // Produce until the host's shutdown begins.
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct, host.ShutdownRequested);
                for (int n = 0; !stop.IsCancellationRequested; n++)
                {
                    sink.Put($"reading {n}");
                    await Task.Delay(1, CancellationToken.None);
                }
            }))
            .AddShutdownCallback(cause => Console.WriteLine($"shutting down: {cause.Kind} {cause.Reason}"))
            // Joins run in order after the callbacks: first the producers, then the final flush.
            .AddJoin(async () => await producers.DisposeAsync(), timeout: TimeSpan.FromSeconds(20))
            .AddJoin(() => sink.StopAsync(), timeout: TimeSpan.FromSeconds(15));
        // </WorkerShutdown>

        // In the sample, the application asks for its own shutdown (what a signal would do).
        _ = Task.Run(async () =>
        {
            await Task.Delay(50);
            host.RequestShutdown("the sample is done");
        });

        // <WorkerMain>
        SignalHostResult result = await host.RunAsync();
        Console.WriteLine($"exit code {result.ExitCode}, clean: {result.IsClean}"); // return result.ExitCode from Main
        // </WorkerMain>

        WaterfallStatistics stats = sink.GetStatistics();
        Check.That(result.IsClean && result.Cause.Kind == ShutdownCauseKind.Requested, "the requested shutdown ran every step without a fault");
        Check.That(written > 0 && written == stats.ItemsBatched, "every item put before the stop is written");
        await sink.DisposeAsync();
    }
}
