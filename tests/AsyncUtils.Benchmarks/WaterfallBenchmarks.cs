using System.Reactive.Linq;
using System.Reactive.Subjects;
using System.Threading.Tasks.Dataflow;
using AsyncUtils;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace AsyncUtils.Benchmarks;

/// <summary>
/// Per-item cost of batching 100,000 items into batches of 100 (the wait is long, so every batch
/// is count-triggered) and handing them to a trivial callback, until everything has been handled:
/// Waterfall against System.Reactive's Buffer(TimeSpan, count) and Dataflow's BatchBlock feeding an
/// ActionBlock. One producer, and four producers at once.
/// </summary>
[MemoryDiagnoser]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822:Mark members as static", Justification = "BenchmarkDotNet runs instance methods.")]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class WaterfallBenchmarks
{
    private const int Items = 100_000;
    private const int BatchSize = 100;
    private const int Producers = 4;
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(10);

    [Benchmark(Baseline = true, OperationsPerInvoke = Items)]
    [BenchmarkCategory("1 producer")]
    public async Task<long> Waterfall_one_producer()
    {
        long handled = 0;
        var waterfall = new Waterfall<int>((batch, _) =>
        {
            Interlocked.Add(ref handled, batch.Count);
            return ValueTask.CompletedTask;
        }, new WaterfallOptions { MaxBatchSize = BatchSize, MaxWait = MaxWait });
        waterfall.Start();
        for (int i = 0; i < Items; i++)
        {
            waterfall.Put(i);
        }

        await waterfall.DisposeAsync().ConfigureAwait(false);
        return handled;
    }

    [Benchmark(OperationsPerInvoke = Items)]
    [BenchmarkCategory("1 producer")]
    public long Rx_Buffer_one_producer()
    {
        long handled = 0;
        using var done = new ManualResetEventSlim();
        using var subject = new Subject<int>();
        using IDisposable subscription = subject.Buffer(MaxWait, BatchSize).Subscribe(batch => handled += batch.Count, done.Set);
        for (int i = 0; i < Items; i++)
        {
            subject.OnNext(i);
        }

        subject.OnCompleted();
        done.Wait();
        return handled;
    }

    [Benchmark(OperationsPerInvoke = Items)]
    [BenchmarkCategory("1 producer")]
    public async Task<long> Dataflow_BatchBlock_one_producer()
    {
        long handled = 0;
        var batcher = new BatchBlock<int>(BatchSize);
        var consumer = new ActionBlock<int[]>(batch => handled += batch.Length);
        using IDisposable link = batcher.LinkTo(consumer, new DataflowLinkOptions { PropagateCompletion = true });
        for (int i = 0; i < Items; i++)
        {
            batcher.Post(i);
        }

        batcher.Complete();
        await consumer.Completion.ConfigureAwait(false);
        return handled;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Items)]
    [BenchmarkCategory("4 producers")]
    public async Task<long> Waterfall_four_producers()
    {
        long handled = 0;
        var waterfall = new Waterfall<int>((batch, _) =>
        {
            Interlocked.Add(ref handled, batch.Count);
            return ValueTask.CompletedTask;
        }, new WaterfallOptions { MaxBatchSize = BatchSize, MaxWait = MaxWait });
        waterfall.Start();
        RunProducers(waterfall.Put);
        await waterfall.DisposeAsync().ConfigureAwait(false);
        return handled;
    }

    [Benchmark(OperationsPerInvoke = Items)]
    [BenchmarkCategory("4 producers")]
    public long Rx_Buffer_four_producers()
    {
        // Rx requires serialized OnNext calls, so concurrent producers go through Synchronize.
        long handled = 0;
        using var done = new ManualResetEventSlim();
        using var subject = new Subject<int>();
        ISubject<int> synchronized = Subject.Synchronize(subject);
        using IDisposable subscription = subject.Buffer(MaxWait, BatchSize).Subscribe(batch => handled += batch.Count, done.Set);
        RunProducers(synchronized.OnNext);
        synchronized.OnCompleted();
        done.Wait();
        return handled;
    }

    [Benchmark(OperationsPerInvoke = Items)]
    [BenchmarkCategory("4 producers")]
    public async Task<long> Dataflow_BatchBlock_four_producers()
    {
        long handled = 0;
        var batcher = new BatchBlock<int>(BatchSize);
        var consumer = new ActionBlock<int[]>(batch => handled += batch.Length);
        using IDisposable link = batcher.LinkTo(consumer, new DataflowLinkOptions { PropagateCompletion = true });
        RunProducers(item => batcher.Post(item));
        batcher.Complete();
        await consumer.Completion.ConfigureAwait(false);
        return handled;
    }

    private static void RunProducers(Action<int> put)
    {
        var threads = new Thread[Producers];
        for (int p = 0; p < Producers; p++)
        {
            int first = p * (Items / Producers);
            threads[p] = new Thread(() =>
            {
                for (int i = first; i < first + (Items / Producers); i++)
                {
                    put(i);
                }
            });
            threads[p].Start();
        }

        foreach (Thread thread in threads)
        {
            thread.Join();
        }
    }
}
