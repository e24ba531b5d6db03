using System.Collections.Concurrent;
using AsyncUtils;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BitFaster.Caching.Lru;
using Microsoft.Extensions.Caching.Memory;
using ZiggyCreatures.Caching.Fusion;

namespace AsyncUtils.Benchmarks;

/// <summary>
/// AsyncUtils.TaskCache against what .NET users reach for to cache an async result:
/// <list type="bullet">
/// <item>Hit: a completed entry, 1,000 keys read in a scrambled order, per request. Baseline: the
/// bare <c>ConcurrentDictionary&lt;int, Task&lt;int&gt;&gt;.GetOrAdd</c> idiom (no expiry, no bound,
/// no stampede protection, failures cached forever).</item>
/// <item>HitStringKey: the same with string keys, where FusionCache (string keys only) can join.</item>
/// <item>Stampede: 1,000 callers of a cold key from two threads, the function held until all have
/// called; per stampede. The number of function calls per stampede is printed at the end of each
/// benchmark's log ("calls per stampede").</item>
/// </list>
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class TaskCacheBenchmarks : IDisposable
{
    private const int Keys = 1000;
    private const int Callers = 1000;

    private static readonly Func<int, CancellationToken, Task<int>> Load = static (k, _) => Task.FromResult(k);
    private static readonly Func<int, Task<int>> LoadNoToken = static k => Task.FromResult(k);
    private static readonly Func<string, CancellationToken, Task<int>> LoadString = static (k, _) => Task.FromResult(k.Length);
    private static readonly Func<string, Task<int>> LoadStringNoToken = static k => Task.FromResult(k.Length);
    private static readonly Func<ICacheEntry, Task<int>> LoadMemoryCache = static e => Task.FromResult(e.Key is int k ? k : ((string)e.Key).Length);
    private static readonly Func<FusionCacheFactoryExecutionContext<int>, CancellationToken, Task<int>> LoadFusion = static (_, _) => Task.FromResult(1);

    private static int s_calls;

    private readonly int[] _keys = new int[Keys];
    private readonly string[] _stringKeys = new string[Keys];
    private readonly Task<int>[] _stampede = new Task<int>[Callers];
    private readonly ParallelOptions _twoThreads = new() { MaxDegreeOfParallelism = 2 };
    private TaskCache<int, int> _ours = null!;
    private TaskCache<int, int> _oursBounded = null!;
    private TaskCache<int, int> _oursBoundedS3Fifo = null!;
    private TaskCache<int, int> _oursTtl = null!;
    private TaskCache<string, int> _oursString = null!;
    private ConcurrentDictionary<int, Task<int>> _dictionary = null!;
    private ConcurrentDictionary<string, Task<int>> _dictionaryString = null!;
    private ConcurrentLru<int, int> _bitfaster = null!;
    private MemoryCache _memoryCache = null!;
    private FusionCache _fusion = null!;
    private int _next;
    private int _stampedes;

    [GlobalSetup]
    public void Setup()
    {
        for (int i = 0; i < Keys; i++)
        {
            _keys[i] = (int)((i * 7919L) % Keys); // a fixed scramble of 0..999
            _stringKeys[i] = $"key:{_keys[i]}";
        }

        _ours = new TaskCache<int, int>();
        _oursBounded = new TaskCache<int, int>(new TaskCacheOptions<int, int> { MaxSize = 2 * Keys });
        _oursBoundedS3Fifo = new TaskCache<int, int>(new TaskCacheOptions<int, int> { MaxSize = 2 * Keys, EvictionPolicy = CacheEvictionPolicy.S3Fifo });
        _oursTtl = new TaskCache<int, int>(new TaskCacheOptions<int, int> { TimeToLive = TimeSpan.FromHours(1) });
        _oursString = new TaskCache<string, int>();
        _dictionary = new ConcurrentDictionary<int, Task<int>>();
        _dictionaryString = new ConcurrentDictionary<string, Task<int>>();
        _bitfaster = new ConcurrentLru<int, int>(2 * Keys);
        _memoryCache = new MemoryCache(new MemoryCacheOptions());
        _fusion = new FusionCache(new FusionCacheOptions { DefaultEntryOptions = new FusionCacheEntryOptions { Duration = TimeSpan.FromHours(1) } });

        for (int k = 0; k < Keys; k++)
        {
            string s = _stringKeys[k];
            _ours.GetOrAddAsync(k, Load).GetAwaiter().GetResult();
            _oursBounded.GetOrAddAsync(k, Load).GetAwaiter().GetResult();
            _oursBoundedS3Fifo.GetOrAddAsync(k, Load).GetAwaiter().GetResult();
            _oursTtl.GetOrAddAsync(k, Load).GetAwaiter().GetResult();
            _oursString.GetOrAddAsync(s, LoadString).GetAwaiter().GetResult();
            _dictionary.GetOrAdd(k, LoadNoToken).GetAwaiter().GetResult();
            _dictionaryString.GetOrAdd(s, LoadStringNoToken).GetAwaiter().GetResult();
            Sync(_bitfaster.GetOrAddAsync(k, LoadNoToken));
            _memoryCache.GetOrCreateAsync(k, LoadMemoryCache).GetAwaiter().GetResult();
            _memoryCache.GetOrCreateAsync(s, LoadMemoryCache).GetAwaiter().GetResult();
            Sync(_fusion.GetOrSetAsync<int>(s, LoadFusion, default(MaybeValue<int>)));
        }

        _next = 1_000_000;
    }

    [GlobalCleanup]
    public void Dispose()
    {
        if (_stampedes > 0)
        {
            Console.WriteLine($"// calls per stampede: {(double)s_calls / _stampedes:F1}");
        }

        _memoryCache.Dispose();
        _fusion.Dispose();
        GC.SuppressFinalize(this);
    }

    private static int Sync(ValueTask<int> task) => task.IsCompletedSuccessfully ? task.Result : task.AsTask().GetAwaiter().GetResult();

    // ------------------------------------------------------------------ hit, int keys

    [Benchmark(OperationsPerInvoke = Keys, Baseline = true), BenchmarkCategory("Hit")]
    public int Hit_ConcurrentDictionary_GetOrAdd()
    {
        int sum = 0;
        foreach (int k in _keys)
        {
            sum += _dictionary.GetOrAdd(k, LoadNoToken).Result;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys), BenchmarkCategory("Hit")]
    public int Hit_AsyncUtils_TaskCache()
    {
        int sum = 0;
        foreach (int k in _keys)
        {
            sum += _ours.GetOrAddAsync(k, Load).Result;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys), BenchmarkCategory("Hit")]
    public int Hit_AsyncUtils_TaskCache_MaxSize()
    {
        int sum = 0;
        foreach (int k in _keys)
        {
            sum += _oursBounded.GetOrAddAsync(k, Load).Result;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys), BenchmarkCategory("Hit")]
    public int Hit_AsyncUtils_TaskCache_MaxSize_S3Fifo()
    {
        int sum = 0;
        foreach (int k in _keys)
        {
            sum += _oursBoundedS3Fifo.GetOrAddAsync(k, Load).Result;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys), BenchmarkCategory("Hit")]
    public int Hit_AsyncUtils_TaskCache_Ttl()
    {
        int sum = 0;
        foreach (int k in _keys)
        {
            sum += _oursTtl.GetOrAddAsync(k, Load).Result;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys), BenchmarkCategory("Hit")]
    public int Hit_BitFaster_ConcurrentLru_GetOrAddAsync()
    {
        int sum = 0;
        foreach (int k in _keys)
        {
            sum += Sync(_bitfaster.GetOrAddAsync(k, LoadNoToken));
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys), BenchmarkCategory("Hit")]
    public int Hit_MemoryCache_GetOrCreateAsync()
    {
        int sum = 0;
        foreach (int k in _keys)
        {
            sum += _memoryCache.GetOrCreateAsync(k, LoadMemoryCache).Result;
        }

        return sum;
    }

    // ------------------------------------------------------------------ hit, string keys

    [Benchmark(OperationsPerInvoke = Keys, Baseline = true), BenchmarkCategory("HitStringKey")]
    public int HitStringKey_ConcurrentDictionary_GetOrAdd()
    {
        int sum = 0;
        foreach (string k in _stringKeys)
        {
            sum += _dictionaryString.GetOrAdd(k, LoadStringNoToken).Result;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys), BenchmarkCategory("HitStringKey")]
    public int HitStringKey_AsyncUtils_TaskCache()
    {
        int sum = 0;
        foreach (string k in _stringKeys)
        {
            sum += _oursString.GetOrAddAsync(k, LoadString).Result;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys), BenchmarkCategory("HitStringKey")]
    public int HitStringKey_MemoryCache_GetOrCreateAsync()
    {
        int sum = 0;
        foreach (string k in _stringKeys)
        {
            sum += _memoryCache.GetOrCreateAsync(k, LoadMemoryCache).Result;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys), BenchmarkCategory("HitStringKey")]
    public int HitStringKey_FusionCache_GetOrSetAsync()
    {
        int sum = 0;
        foreach (string k in _stringKeys)
        {
            sum += Sync(_fusion.GetOrSetAsync<int>(k, LoadFusion, default(MaybeValue<int>)));
        }

        return sum;
    }

    // ------------------------------------------------------------------ stampede on a cold key

    [Benchmark(Baseline = true), BenchmarkCategory("Stampede")]
    public Task<int[]> Stampede_ConcurrentDictionary_GetOrAdd() => Stampede(key =>
    {
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Parallel.For(0, Callers, _twoThreads, i => _stampede[i] = _dictionary.GetOrAdd(key, static (_, g) => Counted(g.Task), gate));
        return gate;
    });

    [Benchmark, BenchmarkCategory("Stampede")]
    public Task<int[]> Stampede_AsyncUtils_TaskCache() => Stampede(key =>
    {
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Parallel.For(0, Callers, _twoThreads, i => _stampede[i] = _ours.GetOrAddAsync(key, static (_, g, _) => Counted(g.Task), gate));
        return gate;
    });

    [Benchmark, BenchmarkCategory("Stampede")]
    public Task<int[]> Stampede_BitFaster_ConcurrentLru_GetOrAddAsync() => Stampede(key =>
    {
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Parallel.For(0, Callers, _twoThreads, i => _stampede[i] = _bitfaster.GetOrAddAsync(key, static (_, g) => Counted(g.Task), gate).AsTask());
        return gate;
    });

    [Benchmark, BenchmarkCategory("Stampede")]
    public Task<int[]> Stampede_MemoryCache_GetOrCreateAsync() => Stampede(key =>
    {
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Parallel.For(0, Callers, _twoThreads, i => _stampede[i] = _memoryCache.GetOrCreateAsync(key, _ => Counted(gate.Task)));
        return gate;
    });

    [Benchmark, BenchmarkCategory("Stampede")]
    public Task<int[]> Stampede_FusionCache_GetOrSetAsync() => Stampede(key =>
    {
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        string stringKey = key.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Parallel.For(0, Callers, _twoThreads, i => _stampede[i] = _fusion.GetOrSetAsync<int>(stringKey, (_, _) => Counted(gate.Task), default(MaybeValue<int>)).AsTask());
        return gate;
    });

    private static Task<int> Counted(Task<int> result)
    {
        Interlocked.Increment(ref s_calls);
        return result;
    }

    /// <summary>Starts every caller on a fresh key, then lets the function complete and waits for them all.</summary>
    private Task<int[]> Stampede(Func<int, TaskCompletionSource<int>> startCallers)
    {
        int key = Interlocked.Increment(ref _next);
        _stampedes++;
        startCallers(key).SetResult(key);
        return Task.WhenAll(_stampede);
    }
}
