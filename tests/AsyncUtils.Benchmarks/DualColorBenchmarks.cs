using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using AsyncUtils;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Nito.AsyncEx;

namespace AsyncUtils.Benchmarks;

/// <summary>
/// AsyncUtils.DualColor's <see cref="DualQueue{T}"/> against its anchors: one producer and one
/// consumer move <see cref="Items"/> ints through a queue bounded at <see cref="Capacity"/>, one
/// item per call on both sides (no batching), and the time is reported per item. Each category's
/// baseline is the anchor for that pairing of colors: a bounded <see cref="Channel{T}"/> for
/// async-async, <see cref="BlockingCollection{T}"/> for blocking-blocking, and Nito.AsyncEx's
/// <see cref="AsyncProducerConsumerQueue{T}"/> for the two mixed pairings. Blocking sides run on a
/// dedicated thread; async sides on the thread pool.
/// </summary>
[SuppressMessage("Performance", "CA1822", Justification = "BenchmarkDotNet runs instance methods; each invocation builds its own queue.")]
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class DualColorBenchmarks
{
    // The issue asks for 1,000,000 items; 100,000 per invocation keeps a --job short run to a few
    // minutes and is long enough that thread start-up is noise (< 0.1%).
    private const int Items = 100_000;
    private const int Capacity = 1000;

    // ------------------------------------------------------------------ async -> async

    [Benchmark(Baseline = true, OperationsPerInvoke = Items), BenchmarkCategory("AsyncAsync")]
    public async Task AsyncAsync_Channel()
    {
        var channel = Channel.CreateBounded<int>(Capacity);
        Task consumer = Task.Run(async () =>
        {
            ChannelReader<int> reader = channel.Reader;
            for (int i = 0; i < Items; i++)
            {
                await reader.ReadAsync().ConfigureAwait(false);
            }
        });
        ChannelWriter<int> writer = channel.Writer;
        for (int i = 0; i < Items; i++)
        {
            await writer.WriteAsync(i).ConfigureAwait(false);
        }

        await consumer.ConfigureAwait(false);
    }

    [Benchmark(OperationsPerInvoke = Items), BenchmarkCategory("AsyncAsync")]
    public async Task AsyncAsync_DualQueue()
    {
        var queue = new DualQueue<int>(Capacity);
        Task consumer = Task.Run(async () =>
        {
            for (int i = 0; i < Items; i++)
            {
                await queue.TakeAsync().ConfigureAwait(false);
            }
        });
        for (int i = 0; i < Items; i++)
        {
            await queue.PutAsync(i).ConfigureAwait(false);
        }

        await consumer.ConfigureAwait(false);
    }

    // ------------------------------------------------------------------ blocking -> blocking

    [Benchmark(Baseline = true, OperationsPerInvoke = Items), BenchmarkCategory("BlockingBlocking")]
    public void BlockingBlocking_BlockingCollection()
    {
        using var collection = new BlockingCollection<int>(Capacity);
        Thread consumer = StartThread(() =>
        {
            for (int i = 0; i < Items; i++)
            {
                collection.Take();
            }
        });
        for (int i = 0; i < Items; i++)
        {
            collection.Add(i);
        }

        consumer.Join();
    }

    [Benchmark(OperationsPerInvoke = Items), BenchmarkCategory("BlockingBlocking")]
    public void BlockingBlocking_DualQueue()
    {
        var queue = new DualQueue<int>(Capacity);
        Thread consumer = StartThread(() =>
        {
            for (int i = 0; i < Items; i++)
            {
                queue.Take();
            }
        });
        for (int i = 0; i < Items; i++)
        {
            queue.Put(i);
        }

        consumer.Join();
    }

    // ------------------------------------------------------------------ blocking -> async

    [Benchmark(Baseline = true, OperationsPerInvoke = Items), BenchmarkCategory("BlockingToAsync")]
    public async Task BlockingToAsync_NitoAsyncProducerConsumerQueue()
    {
        var queue = new AsyncProducerConsumerQueue<int>(Capacity);
        Thread producer = StartThread(() =>
        {
            for (int i = 0; i < Items; i++)
            {
                queue.Enqueue(i);
            }
        });
        for (int i = 0; i < Items; i++)
        {
            await queue.DequeueAsync().ConfigureAwait(false);
        }

        producer.Join();
    }

    [Benchmark(OperationsPerInvoke = Items), BenchmarkCategory("BlockingToAsync")]
    public async Task BlockingToAsync_DualQueue()
    {
        var queue = new DualQueue<int>(Capacity);
        Thread producer = StartThread(() =>
        {
            for (int i = 0; i < Items; i++)
            {
                queue.Put(i);
            }
        });
        for (int i = 0; i < Items; i++)
        {
            await queue.TakeAsync().ConfigureAwait(false);
        }

        producer.Join();
    }

    // ------------------------------------------------------------------ async -> blocking

    [Benchmark(Baseline = true, OperationsPerInvoke = Items), BenchmarkCategory("AsyncToBlocking")]
    public async Task AsyncToBlocking_NitoAsyncProducerConsumerQueue()
    {
        var queue = new AsyncProducerConsumerQueue<int>(Capacity);
        Thread consumer = StartThread(() =>
        {
            for (int i = 0; i < Items; i++)
            {
                queue.Dequeue();
            }
        });
        for (int i = 0; i < Items; i++)
        {
            await queue.EnqueueAsync(i).ConfigureAwait(false);
        }

        consumer.Join();
    }

    [Benchmark(OperationsPerInvoke = Items), BenchmarkCategory("AsyncToBlocking")]
    public async Task AsyncToBlocking_DualQueue()
    {
        var queue = new DualQueue<int>(Capacity);
        Thread consumer = StartThread(() =>
        {
            for (int i = 0; i < Items; i++)
            {
                queue.Take();
            }
        });
        for (int i = 0; i < Items; i++)
        {
            await queue.PutAsync(i).ConfigureAwait(false);
        }

        consumer.Join();
    }

    private static Thread StartThread(Action body)
    {
        var thread = new Thread(() => body()) { IsBackground = true };
        thread.Start();
        return thread;
    }
}
