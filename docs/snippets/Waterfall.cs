using AsyncUtils;

namespace AsyncUtils.Docs.Snippets;

internal static class WaterfallSnippets
{
    public static async Task RunAsync()
    {
        var batches = new List<int>();

        // <WaterfallBasic>
        await using var waterfall = new Waterfall<string>(
            async (batch, ct) =>
            {
                await Task.Yield(); // e.g. one INSERT of the whole batch
                lock (batches) { batches.Add(batch.Count); }
            },
            new WaterfallOptions { MaxBatchSize = 100, MaxWait = TimeSpan.FromMilliseconds(50) });

        waterfall.Start();
        for (int i = 0; i < 250; i++)
        {
            waterfall.Put($"event {i}"); // never waits for the callback
        }

        await waterfall.StopAsync(); // stops accepting and delivers every item put so far
        Console.WriteLine(waterfall.GetStatistics().ItemsBatched); // 250
        // </WaterfallBasic>

        Check.That(batches.Sum() == 250 && batches.All(b => b is > 0 and <= 100), "every item is delivered once, in batches of at most 100");
    }
}
