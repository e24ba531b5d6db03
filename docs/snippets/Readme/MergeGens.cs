using System.Runtime.CompilerServices;
using AsyncUtils;
using AsyncUtils.Docs.Snippets;

namespace ReadmeSnippets;

internal static class ReadmeMergeGens
{
    public static async Task RunAsync()
    {
        var nasdaq = new Feed("NASDAQ", 3);
        var lse = new Feed("LSE", 2);
        var tse = new Feed("TSE", 1);
        IAsyncEnumerable<LogLine> tailA = Tail("a", 2), tailB = Tail("b", 2), tailC = Tail("c", 1);
        var displayed = new List<Quote>();
        void Display(Quote quote) => displayed.Add(quote);
        var sink = new Sink();
        CancellationToken stoppingToken = CancellationToken.None;

        // <ReadmeMergeGens>
        // Three feeds, one loop: each item as soon as any feed has one.
        await foreach (Quote quote in AsyncMerge.Merge(nasdaq.QuotesAsync(), lse.QuotesAsync(), tse.QuotesAsync())
                           .WithCancellation(stoppingToken))
        {
            Display(quote);                    // break, throw or cancel here: every feed is stopped and disposed
        }

        // Keep going when one feed fails; get all the failures at the end, as one AggregateException.
        await foreach (Quote quote in AsyncMerge.Merge([nasdaq.QuotesAsync(), lse.QuotesAsync()], MergeErrorMode.Delay))
        {
            Display(quote);
        }

        // What is ready together, together (each batch is a new list, never empty, at most one item per source).
        await foreach (IReadOnlyList<LogLine> batch in AsyncMerge.MergeBatches(tailA, tailB, tailC))
        {
            await sink.WriteAsync(batch);
        }
        // </ReadmeMergeGens>

        Check.That(displayed.Count == 6 + 5, "every quote of every feed is displayed, by both loops");
        Check.That(sink.Lines.Count() == 5 && sink.Batches.All(b => b.Count > 0 && b.Count <= 3), "every log line is written, in non-empty batches of at most one per tail");
    }

    private static async IAsyncEnumerable<LogLine> Tail(string name, int count, [EnumeratorCancellation] CancellationToken token = default)
    {
        for (int i = 0; i < count; i++)
        {
            await Task.Yield();
            yield return new LogLine($"{name} {i}");
        }
    }

    private sealed record Quote(string Exchange, int Sequence);

    private sealed record LogLine(string Text);

    private sealed class Feed(string exchange, int count)
    {
        public async IAsyncEnumerable<Quote> QuotesAsync([EnumeratorCancellation] CancellationToken token = default)
        {
            for (int i = 0; i < count; i++)
            {
                await Task.Yield();
                yield return new Quote(exchange, i);
            }
        }
    }

    private sealed class Sink
    {
        public List<IReadOnlyList<LogLine>> Batches { get; } = [];

        public IEnumerable<LogLine> Lines => Batches.SelectMany(b => b);

        public Task WriteAsync(IReadOnlyList<LogLine> batch)
        {
            Batches.Add(batch);
            return Task.CompletedTask;
        }
    }
}
