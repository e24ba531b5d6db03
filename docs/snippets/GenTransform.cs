using AsyncUtils;

namespace AsyncUtils.Docs.Snippets;

internal static class GenTransformSnippets
{
    public static async Task RunAsync()
    {
        // <GenTransformBasic>
        // A blocking source: think of File.ReadLines on a slow disk or a driver's read loop.
        static IEnumerable<string> ReadLinesBlocking()
        {
            for (int i = 1; i <= 3; i++)
            {
                Thread.Sleep(1); // blocks its own dedicated thread, never the thread pool
                yield return $"line {i}";
            }
        }

        var lines = new List<string>();
        await foreach (string line in ThreadedAsyncEnumerable.Create(ReadLinesBlocking()))
        {
            lines.Add(line); // lazy: the source produces the next line only when asked
        }
        // </GenTransformBasic>

        Check.That(lines.SequenceEqual(["line 1", "line 2", "line 3"]), "items arrive in order");
    }
}
