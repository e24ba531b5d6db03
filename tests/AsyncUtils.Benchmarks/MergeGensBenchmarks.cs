using System.Threading.Channels;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace AsyncUtils.Benchmarks;

/// <summary>
/// Per-item cost of merging 4 sources of 10,000 ints each into one sequence: AsyncMerge.Merge and
/// AsyncMerge.MergeBatches against System.Interactive.Async's AsyncEnumerableEx.Merge (the baseline)
/// and the fan-in people write by hand, one task per source writing into a bounded Channel that the
/// consumer reads. Two kinds of source: always ready (an async iterator that never awaits) and
/// yielding (each item after an <c>await Task.Yield()</c>, so every step completes on the thread pool).
/// </summary>
[MemoryDiagnoser]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "BenchmarkDotNet runs instance methods.")]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class MergeGensBenchmarks
{
    private const int Sources = 4;
    private const int Items = 10_000;
    private const int Total = Sources * Items;

    [Benchmark(OperationsPerInvoke = Total)]
    [BenchmarkCategory("Ready")]
    public Task<long> AsyncMerge_ready() => Consume(AsyncMerge.Merge(Make(Ready)));

    [Benchmark(OperationsPerInvoke = Total)]
    [BenchmarkCategory("Ready")]
    public Task<long> AsyncMerge_batches_ready() => ConsumeBatches(AsyncMerge.MergeBatches(Make(Ready)));

    [Benchmark(Baseline = true, OperationsPerInvoke = Total)]
    [BenchmarkCategory("Ready")]
    public Task<long> Ix_Merge_ready() => Consume(AsyncEnumerableEx.Merge(Make(Ready)));

    [Benchmark(OperationsPerInvoke = Total)]
    [BenchmarkCategory("Ready")]
    public Task<long> Channel_fan_in_ready() => ChannelFanIn(Make(Ready));

    [Benchmark(OperationsPerInvoke = Total)]
    [BenchmarkCategory("Yielding")]
    public Task<long> AsyncMerge_yielding() => Consume(AsyncMerge.Merge(Make(Yielding)));

    [Benchmark(OperationsPerInvoke = Total)]
    [BenchmarkCategory("Yielding")]
    public Task<long> AsyncMerge_batches_yielding() => ConsumeBatches(AsyncMerge.MergeBatches(Make(Yielding)));

    [Benchmark(Baseline = true, OperationsPerInvoke = Total)]
    [BenchmarkCategory("Yielding")]
    public Task<long> Ix_Merge_yielding() => Consume(AsyncEnumerableEx.Merge(Make(Yielding)));

    [Benchmark(OperationsPerInvoke = Total)]
    [BenchmarkCategory("Yielding")]
    public Task<long> Channel_fan_in_yielding() => ChannelFanIn(Make(Yielding));

    private static IAsyncEnumerable<int>[] Make(Func<int, IAsyncEnumerable<int>> source)
    {
        var sources = new IAsyncEnumerable<int>[Sources];
        for (int i = 0; i < Sources; i++)
        {
            sources[i] = source(i * Items);
        }

        return sources;
    }

#pragma warning disable CS1998 // an async iterator that never awaits: every step is ready at once
    private static async IAsyncEnumerable<int> Ready(int start)
#pragma warning restore CS1998
    {
        for (int i = 0; i < Items; i++)
        {
            yield return start + i;
        }
    }

    private static async IAsyncEnumerable<int> Yielding(int start)
    {
        for (int i = 0; i < Items; i++)
        {
            await Task.Yield();
            yield return start + i;
        }
    }

    private static async Task<long> Consume(IAsyncEnumerable<int> sequence)
    {
        long sum = 0;
        await foreach (int item in sequence.ConfigureAwait(false))
        {
            sum += item;
        }

        return sum;
    }

    private static async Task<long> ConsumeBatches(IAsyncEnumerable<IReadOnlyList<int>> sequence)
    {
        long sum = 0;
        await foreach (IReadOnlyList<int> batch in sequence.ConfigureAwait(false))
        {
            for (int i = 0; i < batch.Count; i++)
            {
                sum += batch[i];
            }
        }

        return sum;
    }

    /// <summary>
    /// The hand-written fan-in: one task per source writes into a channel bounded at one slot per
    /// source, which the consumer reads. Unlike the merges it is not lazy: each source runs ahead
    /// until the channel is full, and leaving early needs its own cancellation plumbing.
    /// </summary>
    private static async Task<long> ChannelFanIn(IAsyncEnumerable<int>[] sources)
    {
        var channel = Channel.CreateBounded<int>(new BoundedChannelOptions(Sources) { SingleReader = true });
        int running = sources.Length;
        var pumps = new Task[sources.Length];
        for (int i = 0; i < sources.Length; i++)
        {
            IAsyncEnumerable<int> source = sources[i];
            pumps[i] = Task.Run(async () =>
            {
                await foreach (int item in source.ConfigureAwait(false))
                {
                    await channel.Writer.WriteAsync(item).ConfigureAwait(false);
                }

                if (Interlocked.Decrement(ref running) == 0)
                {
                    channel.Writer.Complete();
                }
            });
        }

        long sum = 0;
        await foreach (int item in channel.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            sum += item;
        }

        await Task.WhenAll(pumps).ConfigureAwait(false);
        return sum;
    }
}
