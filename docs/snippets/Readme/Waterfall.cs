using AsyncUtils.Docs.Snippets;
using AsyncUtils;

namespace ReadmeSnippets;

internal static class ReadmeWaterfall
{
    public static async Task RunAsync()
    {
        var store = new Store();
        await Root(store);
        Check.That(store.Inserted.SequenceEqual([new LogEvent("started")]), "disposing the batcher hands the put item to the store");

        store = new Store();
        await Package(store);
        Check.That(store.Inserted.SequenceEqual([new LogEvent("started")]), "disposing the batcher hands the put item to the store");
    }

    private static async Task Root(Store store)
    {
        // <RootWaterfall>
        await using var writes = new Waterfall<LogEvent>(
            async (batch, ct) => await store.InsertManyAsync(batch, ct),
            new WaterfallOptions { MaxBatchSize = 500, MaxWait = TimeSpan.FromMilliseconds(200) });
        writes.Start();
        writes.Put(new LogEvent("started")); // lock-free, never waits for the store
        // </RootWaterfall>
    }

    private static async Task Package(Store store)
    {
        // <ReadmeWaterfall>
        await using var writes = new Waterfall<LogEvent>(
            async (batch, cancellationToken) => await store.InsertManyAsync(batch, cancellationToken),
            new WaterfallOptions { MaxBatchSize = 500, MaxWait = TimeSpan.FromMilliseconds(200) });
        writes.CallbackFailed += (_, e) => Console.Error.WriteLine($"lost a batch of {e.Batch.Count}: {e.Exception}");
        writes.Start();

        writes.Put(new LogEvent("started"));   // from any thread, never waits for the store
        // ...
        // leaving the scope (DisposeAsync) stops intake and waits until every item was handed over
        // </ReadmeWaterfall>
    }

    private sealed record LogEvent(string Message);

    private sealed class Store
    {
        public List<LogEvent> Inserted { get; } = [];

        public async Task InsertManyAsync(IReadOnlyList<LogEvent> batch, CancellationToken ct)
        {
            await Task.Yield();
            lock (Inserted)
            {
                Inserted.AddRange(batch);
            }
        }
    }
}
