using System.Threading.Channels;
using AsyncUtils;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace AsyncUtils.Benchmarks;

/// <summary>
/// Per-item cost of consuming a synchronous sequence as an async one, the source on its own thread:
/// ThreadedAsyncEnumerable (lazy, and with a prefetch of 64) against the simple bridge people write
/// by hand, a long-running task filling a bounded Channel that the consumer reads.
/// </summary>
[MemoryDiagnoser]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "BenchmarkDotNet runs instance methods.")]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class GenTransformBenchmarks
{
    private const int Items = 10_000;

    private static IEnumerable<int> Source()
    {
        for (int i = 0; i < Items; i++)
        {
            yield return i;
        }
    }

    [Benchmark(OperationsPerInvoke = Items)]
    [BenchmarkCategory("Lazy")]
    public Task<long> ThreadedAsyncEnumerable_lazy() => Consume(ThreadedAsyncEnumerable.Create(Source()));

    [Benchmark(Baseline = true, OperationsPerInvoke = Items)]
    [BenchmarkCategory("Lazy")]
    public Task<long> Channel_bridge_capacity_1() => ChannelBridge(1);

    [Benchmark(OperationsPerInvoke = Items)]
    [BenchmarkCategory("Prefetch64")]
    public Task<long> ThreadedAsyncEnumerable_prefetch_64() =>
        Consume(ThreadedAsyncEnumerable.Create(Source(), new ThreadedAsyncEnumerableOptions { Prefetch = 64 }));

    [Benchmark(Baseline = true, OperationsPerInvoke = Items)]
    [BenchmarkCategory("Prefetch64")]
    public Task<long> Channel_bridge_capacity_64() => ChannelBridge(64);

    private static async Task<long> Consume(IAsyncEnumerable<int> sequence)
    {
        long sum = 0;
        await foreach (int item in sequence.ConfigureAwait(false))
        {
            sum += item;
        }

        return sum;
    }

    /// <summary>
    /// The hand-written bridge: a dedicated thread writes into a bounded channel, blocking while it
    /// is full. Note it is never fully lazy: it produces one item more than its capacity ahead.
    /// </summary>
    private static async Task<long> ChannelBridge(int capacity)
    {
        var channel = Channel.CreateBounded<int>(new BoundedChannelOptions(capacity) { SingleReader = true, SingleWriter = true });
        Task producer = Task.Factory.StartNew(() =>
        {
            try
            {
                foreach (int item in Source())
                {
                    while (!channel.Writer.TryWrite(item))
                    {
                        if (!channel.Writer.WaitToWriteAsync().AsTask().GetAwaiter().GetResult())
                        {
                            return;
                        }
                    }
                }

                channel.Writer.Complete();
            }
            catch (Exception ex)
            {
                channel.Writer.Complete(ex);
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        long sum = 0;
        await foreach (int item in channel.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            sum += item;
        }

        await producer.ConfigureAwait(false);
        return sum;
    }
}
