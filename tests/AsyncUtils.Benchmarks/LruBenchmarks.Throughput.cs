using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BitFaster.Caching.Lfu;
using BitFaster.Caching.Lru;
using Microsoft.Extensions.Caching.Memory;

namespace AsyncUtils.Benchmarks;

/// <summary>
/// <c>GetOrAdd</c> over a Zipf-distributed key stream (alpha 0.9, 10,000 keys for 1,000 entries, so
/// that misses, inserts and evictions mix with hits as in a real cache), per operation, on one
/// thread and on two threads at once. The key stream is precomputed and seeded; every cache keeps its
/// state across invocations (steady state). Each category's baseline is BitFaster's ConcurrentLru.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class CacheThroughputBenchmarks : IDisposable
{
    private const int Capacity = 1000;
    private const int KeySpace = 10 * Capacity;
    private const int Ops = 100_000; // keys per invocation and per thread

    private int[] _keys = null!;
    private LruCache<int, int> _lru = null!;
    private S3FifoCache<int, int> _s3Fifo = null!;
    private ConcurrentLru<int, int> _concurrentLru = null!;
    private ConcurrentLfu<int, int> _concurrentLfu = null!;
    private MemoryCache _memoryCache = null!;

    [GlobalSetup]
    public void Setup()
    {
        _keys = ZipfKeys.Generate(Ops, KeySpace, alpha: 0.9, seed: 42);
        _lru = new LruCache<int, int>(Capacity);
        _s3Fifo = new S3FifoCache<int, int>(Capacity);
        _concurrentLru = new ConcurrentLru<int, int>(Capacity);
        _concurrentLfu = new ConcurrentLfu<int, int>(Capacity);
        _memoryCache = new MemoryCache(new MemoryCacheOptions { SizeLimit = Capacity });
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _memoryCache.Dispose();
        GC.SuppressFinalize(this);
    }

    // ------------------------------------------------------------------ one thread

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("Zipf")]
    public int Zipf_AsyncUtils_LruCache() => LruLoop(0);

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("Zipf")]
    public int Zipf_AsyncUtils_S3FifoCache() => S3FifoLoop(0);

    [Benchmark(OperationsPerInvoke = Ops, Baseline = true), BenchmarkCategory("Zipf")]
    public int Zipf_BitFaster_ConcurrentLru() => ConcurrentLruLoop(0);

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("Zipf")]
    public int Zipf_BitFaster_ConcurrentLfu() => ConcurrentLfuLoop(0);

    [Benchmark(OperationsPerInvoke = Ops), BenchmarkCategory("Zipf")]
    public int Zipf_MemoryCache() => MemoryCacheLoop(0);

    // ------------------------------------------------------------------ two threads at once (time per operation)

    [Benchmark(OperationsPerInvoke = 2 * Ops), BenchmarkCategory("ZipfTwoThreads")]
    public void ZipfTwoThreads_AsyncUtils_LruCache() => OnTwoThreads(LruLoop);

    [Benchmark(OperationsPerInvoke = 2 * Ops), BenchmarkCategory("ZipfTwoThreads")]
    public void ZipfTwoThreads_AsyncUtils_S3FifoCache() => OnTwoThreads(S3FifoLoop);

    [Benchmark(OperationsPerInvoke = 2 * Ops, Baseline = true), BenchmarkCategory("ZipfTwoThreads")]
    public void ZipfTwoThreads_BitFaster_ConcurrentLru() => OnTwoThreads(ConcurrentLruLoop);

    [Benchmark(OperationsPerInvoke = 2 * Ops), BenchmarkCategory("ZipfTwoThreads")]
    public void ZipfTwoThreads_BitFaster_ConcurrentLfu() => OnTwoThreads(ConcurrentLfuLoop);

    [Benchmark(OperationsPerInvoke = 2 * Ops), BenchmarkCategory("ZipfTwoThreads")]
    public void ZipfTwoThreads_MemoryCache() => OnTwoThreads(MemoryCacheLoop);

    // Each loop makes exactly Ops calls, starting at a different place of the stream per thread.
    private int LruLoop(int start)
    {
        int sum = 0;
        int[] keys = _keys;
        for (int i = 0; i < Ops; i++)
        {
            sum += _lru.GetOrAdd(keys[(start + i) % Ops], static k => k);
        }

        return sum;
    }

    private int S3FifoLoop(int start)
    {
        int sum = 0;
        int[] keys = _keys;
        for (int i = 0; i < Ops; i++)
        {
            sum += _s3Fifo.GetOrAdd(keys[(start + i) % Ops], static k => k);
        }

        return sum;
    }

    private int ConcurrentLruLoop(int start)
    {
        int sum = 0;
        int[] keys = _keys;
        for (int i = 0; i < Ops; i++)
        {
            sum += _concurrentLru.GetOrAdd(keys[(start + i) % Ops], static k => k);
        }

        return sum;
    }

    private int ConcurrentLfuLoop(int start)
    {
        int sum = 0;
        int[] keys = _keys;
        for (int i = 0; i < Ops; i++)
        {
            sum += _concurrentLfu.GetOrAdd(keys[(start + i) % Ops], static k => k);
        }

        return sum;
    }

    private int MemoryCacheLoop(int start)
    {
        int sum = 0;
        int[] keys = _keys;
        for (int i = 0; i < Ops; i++)
        {
            sum += _memoryCache.GetOrCreate(keys[(start + i) % Ops], static e => { e.Size = 1; return (int)e.Key; });
        }

        return sum;
    }

    private static void OnTwoThreads(Func<int, int> loop) =>
        Parallel.Invoke(new ParallelOptions { MaxDegreeOfParallelism = 2 }, () => loop(0), () => loop(Ops / 2));
}
