namespace AsyncUtils.Docs.Snippets;

internal static class MergeGensSnippets
{
    public static async Task RunAsync()
    {
        // <MergeGensBasic>
        // Two feeds that produce at their own pace.
        static async IAsyncEnumerable<string> Feed(string name, int count)
        {
            for (int i = 1; i <= count; i++)
            {
                await Task.Yield(); // stands for waiting on a socket, a queue, a file
                yield return $"{name}{i}";
            }
        }

        // One loop over both: each item as soon as either feed has one.
        var items = new List<string>();
        await foreach (string item in AsyncMerge.Merge(Feed("a", 3), Feed("b", 2)))
        {
            items.Add(item); // leaving early here (break, throw, cancel) stops and disposes both feeds
        }

        // What is ready together, together: each batch holds at most one item per feed.
        int batchedItems = 0;
        await foreach (IReadOnlyList<string> batch in AsyncMerge.MergeBatches(Feed("a", 3), Feed("b", 2)))
        {
            batchedItems += batch.Count;
        }
        // </MergeGensBasic>

        Check.That(items.Count == 5, "every item of every feed arrives");
        Check.That(items.Where(i => i[0] == 'a').SequenceEqual(["a1", "a2", "a3"]), "each feed's own order is kept");
        Check.That(items.Where(i => i[0] == 'b').SequenceEqual(["b1", "b2"]), "each feed's own order is kept");
        Check.That(batchedItems == 5, "the batches hold every item");
    }
}
